/*
 * The live side of the dashboard's pages.
 *
 * htmx's ws extension opens the socket named by #live[ws-connect] and swaps every pushed
 * fragment in by id. This script adds what the extension does not know about:
 *  - the connection state in the header, and reconnecting after closes it does not retry;
 *  - sequence numbers: a gap, a reconnect or a stall deadline re-fetches the page's live
 *    regions over HTTP (#live[data-fragment-url]), never letting an older re-fetch overwrite
 *    a newer push;
 *  - list rules: a pushed row joins a list only when it matches the page's filter and falls
 *    inside the page's window of the sort order; rows that stop matching leave;
 *  - ticking elapsed times, relative times, stalled badges, copy buttons, the tab title.
 */
(function () {
  "use strict";

  const body = document.body;
  const serverNow = Number(body.dataset.serverNow || 0);
  const clockOffset = serverNow ? serverNow - Date.now() : 0;
  const now = () => Date.now() + clockOffset;
  const MAX_TIMEOUT = 2147483647;

  // Times

  function formatDuration(ms) {
    let seconds = Math.max(0, Math.floor(ms / 1000));
    const days = Math.floor(seconds / 86400);
    seconds -= days * 86400;
    const hours = Math.floor(seconds / 3600);
    seconds -= hours * 3600;
    const minutes = Math.floor(seconds / 60);
    seconds -= minutes * 60;
    const pad = (n) => String(n).padStart(2, "0");
    if (days) return `${days}d ${pad(hours)}h`;
    if (hours) return `${hours}h ${pad(minutes)}m`;
    if (minutes) return `${minutes}m ${pad(seconds)}s`;
    return `${seconds}s`;
  }

  function formatAgo(ms) {
    const seconds = Math.floor(ms / 1000);
    if (seconds < 0) return "in the future";
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return `${Math.floor(seconds / 86400)} d ago`;
  }

  function flipStalledBadges(moment) {
    for (const badge of document.querySelectorAll('.badge[data-state="running"][data-deadline]')) {
      if (moment < Number(badge.dataset.deadline)) continue;
      badge.dataset.state = "stalled";
      badge.classList.replace("badge-running", "badge-stalled");
      badge.textContent = "stalled";
      const row = badge.closest("[data-matches]");
      if (row && !row.dataset.matches.split(" ").includes("stalled")) {
        row.dataset.matches = `${row.dataset.matches} stalled`.trim();
      }
    }
  }

  function tick() {
    const moment = now();
    for (const element of document.querySelectorAll("[data-role=elapsed][data-since]")) {
      element.textContent = formatDuration(moment - Number(element.dataset.since));
    }
    flipStalledBadges(moment);
  }

  function refreshRelativeTimes() {
    const moment = now();
    for (const element of document.querySelectorAll("time[data-relative]")) {
      element.textContent = formatAgo(moment - Date.parse(element.getAttribute("datetime")));
    }
  }

  setInterval(tick, 1000);
  setInterval(refreshRelativeTimes, 15000);
  tick();

  // Copy buttons

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(() => copyBySelection(text));
    }
    return copyBySelection(text);
  }

  function copyBySelection(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest(".copy-button");
    const source = button && document.getElementById(button.dataset.copyTarget);
    if (!source) return;
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    copyText(source.textContent).then(
      () => { button.textContent = "Copied"; },
      () => { button.textContent = "Select the text to copy"; },
    ).finally(() => setTimeout(() => { button.textContent = label; }, 2000));
  });

  // Lists that pushed rows join and leave

  const compareText = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const compareNumber = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

  const LISTS = {
    overview: {
      rows: "[data-repo-id]",
      key: (row) => ({
        repo: row.dataset.repoId,
        seen: Number(row.dataset.lastSeen || 0),
        failing: row.dataset.failing === "1",
      }),
      // Mirrors live.SORTS and the failed-first rank: the server orders pages the same way.
      compare(list, a, b) {
        if (list.dataset.failedFirst === "1" && a.failing !== b.failing) return a.failing ? -1 : 1;
        const sort = list.dataset.sort;
        if (sort === "-repo") return compareText(b.repo, a.repo);
        if (sort === "recent") return compareNumber(b.seen, a.seen) || compareText(a.repo, b.repo);
        if (sort === "-recent") return compareNumber(a.seen, b.seen) || compareText(a.repo, b.repo);
        return compareText(a.repo, b.repo);
      },
      matches(list, row) {
        const filter = list.dataset.filter;
        const search = (list.dataset.search || "").toLowerCase();
        const matched = (row.dataset.matches || "").split(" ");
        return (filter === "all" || matched.includes(filter)) &&
          (!search || row.dataset.repoId.toLowerCase().includes(search));
      },
    },
    history: {
      rows: "[data-pk]",
      key: (row) => ({ started: Number(row.dataset.started), pk: Number(row.dataset.pk) }),
      compare: (list, a, b) => compareNumber(b.started, a.started) || compareNumber(b.pk, a.pk),
      matches: (list, row) => !list.dataset.kind || row.dataset.kind === list.dataset.kind,
    },
  };

  // The page's window of the sort order, taken from the rows the server rendered: a first
  // page is open upwards, a last page downwards.
  const windows = new WeakMap();

  function listRows(list) {
    return Array.from(list.querySelectorAll(`:scope > ${LISTS[list.dataset.liveList].rows}`));
  }

  function measureWindow(list) {
    const kind = LISTS[list.dataset.liveList];
    const rows = listRows(list);
    const window = { lower: null, upper: null, closed: false };
    if (list.dataset.hasPrevious === "1") {
      if (rows.length) window.lower = kind.key(rows[0]);
      else window.closed = true;
    }
    if (list.dataset.hasNext === "1" && rows.length) window.upper = kind.key(rows[rows.length - 1]);
    windows.set(list, window);
  }

  function belongs(list, row) {
    const kind = LISTS[list.dataset.liveList];
    const window = windows.get(list) || { lower: null, upper: null, closed: false };
    if (window.closed || !kind.matches(list, row)) return false;
    const key = kind.key(row);
    if (window.lower && kind.compare(list, window.lower, key) > 0) return false;
    if (window.upper && kind.compare(list, key, window.upper) > 0) return false;
    return true;
  }

  function placeRow(list, row) {
    const kind = LISTS[list.dataset.liveList];
    const key = kind.key(row);
    const before = listRows(list).find((other) => kind.compare(list, key, kind.key(other)) < 0);
    list.insertBefore(row, before || null);
  }

  // Before htmx swaps a message in: a row this list lacks but should show gets an empty
  // placeholder at its place in the order, which the swap then fills.
  function makeRoomForNewRows(fragment) {
    for (const list of document.querySelectorAll("[data-live-list]")) {
      const selector = LISTS[list.dataset.liveList].rows;
      for (const element of fragment.children) {
        if (!element.matches(selector) || document.getElementById(element.id)) continue;
        if (!belongs(list, element)) continue;
        const placeholder = element.cloneNode(false);
        placeRow(list, placeholder);
      }
    }
  }

  function enforceLists() {
    let refill = false;
    for (const list of document.querySelectorAll("[data-live-list]")) {
      const kind = LISTS[list.dataset.liveList];
      let rows = listRows(list);
      for (const row of rows) {
        if (belongs(list, row)) continue;
        row.remove();
        // A full page that loses a row takes the first of the next page's: only the server
        // knows which, so the page re-fetches.
        if (list.dataset.hasNext === "1") refill = true;
      }
      rows = listRows(list);
      const sorted = rows.slice().sort((a, b) => kind.compare(list, kind.key(a), kind.key(b)));
      if (sorted.some((row, index) => row !== rows[index])) {
        for (const row of sorted) list.append(row);
      }
      // Rows pushed below a full page belong to the next page, which exists from then on.
      const size = Number(list.dataset.pageSize || 0);
      if (size && sorted.length > size) {
        sorted.slice(size).forEach((row) => row.remove());
        if (list.dataset.hasNext !== "1") {
          list.dataset.hasNext = "1";
          measureWindow(list);
          revealNextPage(list);
        }
      }
      const empty = document.getElementById(`${list.id}-empty`);
      if (empty) empty.hidden = listRows(list).length > 0;
    }
    if (refill) resyncSoon();
  }

  function revealNextPage(list) {
    const pager = document.getElementById(list.dataset.pager || "");
    if (!pager) return;
    const link = pager.querySelector('a[rel="next"]');
    const placeholder = pager.querySelector('[data-role="no-next"]');
    if (link) link.hidden = false;
    if (placeholder) placeholder.hidden = true;
  }

  // Tab title and stall deadlines, both from the overview counters

  function updateTitle() {
    const counters = document.getElementById("overview-counters");
    if (!counters) return;
    const failing = Number(counters.dataset.failing || 0);
    const base = body.dataset.titleBase;
    document.title = failing > 0 ? `(${failing}) failing · ${base}` : base;
  }

  let stallTimer = null;
  let lastStallSynced = 0;

  function scheduleStallResync() {
    const counters = document.getElementById("overview-counters");
    const moment = Number((counters && counters.dataset.nextStall) || 0);
    clearTimeout(stallTimer);
    if (!moment || moment <= lastStallSynced) return;
    const delay = Math.min(Math.max(0, moment - now()) + 1000, MAX_TIMEOUT);
    stallTimer = setTimeout(() => {
      if (now() < moment) return scheduleStallResync();
      lastStallSynced = moment;
      resync();
    }, delay);
  }

  // <details> a reader opened stay open when a push or re-fetch replaces their region.

  function openDetails() {
    return Array.from(document.querySelectorAll("details[open][id]"), (element) => element.id);
  }

  function reopen(ids) {
    for (const id of ids) {
      const element = document.getElementById(id);
      if (element && element.tagName === "DETAILS") element.open = true;
    }
  }

  // The connection

  const root = document.getElementById("live");
  const stateElement = document.getElementById("connection-state");
  if (!root || !stateElement) return;

  const STATES = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    closed: "Disconnected — reload the page",
  };
  // The ws extension retries these closes itself; 44xx means the server refused us.
  const EXTENSION_RETRIES = [1006, 1011, 1012, 1013];
  const isRefusal = (code) => code >= 4400 && code < 4500;

  let opened = false;
  let socket = null;
  let socketWrapper = null;
  let retries = 0;
  let retryTimer = null;
  let lastSequence = {};
  let clock = 0;
  const pushedAt = new Map();
  let reopenAfterPush = [];
  let signedOut = false;
  let dropDelay;
  const openedSockets = new WeakSet();

  function setState(name) {
    if (signedOut && name !== "closed") return;
    stateElement.dataset.state = name;
    stateElement.textContent = STATES[name];
  }

  function retryLater(delay) {
    clearTimeout(retryTimer);
    const wait = delay ?? Math.min(30000, 1000 * 2 ** Math.min(retries, 5)) * (0.5 + Math.random() / 2);
    retries += 1;
    retryTimer = setTimeout(() => socketWrapper && socketWrapper.reconnect(), wait);
  }

  root.addEventListener("htmx:wsConnecting", () => setState(opened ? "reconnecting" : "connecting"));

  root.addEventListener("htmx:wsOpen", (event) => {
    opened = true;
    retries = 0;
    socket = event.detail.event.target;
    openedSockets.add(socket);
    socketWrapper = event.detail.socketWrapper;
    lastSequence = {};
    setState("live");
    resync();
  });

  root.addEventListener("htmx:wsClose", (event) => {
    const closed = event.detail.event;
    if (signedOut) return;
    if (isRefusal(closed.code)) return setState("closed");
    setState("reconnecting");
    // A refused handshake looks like a network failure (1006): ask over HTTP whether the
    // session is still valid before retrying forever.
    if (!openedSockets.has(closed.target)) checkSignedIn();
    if (!EXTENSION_RETRIES.includes(closed.code)) retryLater(dropDelay);
    dropDelay = undefined;
  });

  async function checkSignedIn() {
    try {
      const response = await fetch(root.dataset.fragmentUrl, {
        credentials: "same-origin",
        cache: "no-store",
        redirect: "manual",
      });
      if (response.type === "opaqueredirect" || response.status === 403) markSignedOut();
    } catch (error) {
      // Offline: the next close asks again.
    }
  }

  function markSignedOut() {
    signedOut = true;
    setState("closed");
  }

  root.addEventListener("htmx:wsBeforeMessage", (event) => {
    const template = document.createElement("template");
    template.innerHTML = event.detail.message;
    const fragment = template.content;
    const stamp = ++clock;
    let gap = false;
    for (const element of fragment.children) {
      if (element.id) pushedAt.set(element.id, stamp);
      const group = element.dataset.group;
      if (!group || element.dataset.seq === undefined) continue;
      const sequence = Number(element.dataset.seq);
      if (group in lastSequence && sequence !== lastSequence[group] + 1) gap = true;
      lastSequence[group] = sequence;
    }
    reopenAfterPush = openDetails();
    makeRoomForNewRows(fragment);
    if (gap) resync();
  });

  // Summary pages (failures, hosts, the event log) are only told that an event was stored:
  // they re-fetch their region, at most once per RESYNC_PAUSE however fast events come.
  const RESYNC_PAUSE = 500;
  let resyncTimer = null;

  function resyncSoon() {
    if (resyncTimer) return;
    resyncTimer = setTimeout(() => {
      resyncTimer = null;
      resync();
    }, RESYNC_PAUSE);
  }

  root.addEventListener("htmx:wsAfterMessage", () => {
    if ("resyncOnPush" in root.dataset) resyncSoon();
    reopen(reopenAfterPush);
    enforceLists();
    updateTitle();
    scheduleStallResync();
  });

  // Re-fetching the live regions

  let fetching = false;
  let fetchAgain = false;
  let syncCount = 0;

  async function resync() {
    if (fetching) {
      fetchAgain = true;
      return;
    }
    fetching = true;
    try {
      do {
        fetchAgain = false;
        await fetchRegions();
      } while (fetchAgain);
    } finally {
      fetching = false;
    }
  }

  async function fetchRegions() {
    const started = ++clock;
    let response;
    try {
      response = await fetch(root.dataset.fragmentUrl, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "text/html" },
      });
    } catch (error) {
      return; // Offline: the socket's reconnect brings the next attempt.
    }
    if (response.redirected || response.status === 404) {
      markSignedOut(); // Signed out (sent to the login page), or the page's object is gone.
      return;
    }
    if (!response.ok) return; // A server error: the next reconnect or gap tries again.
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    const keepOpen = openDetails();
    const newerPushes = (id) => (pushedAt.get(id) || 0) > started;
    const pushedRows = [];
    for (const list of document.querySelectorAll("[data-live-list]")) {
      for (const row of listRows(list)) if (newerPushes(row.id)) pushedRows.push(row);
    }
    for (const region of Array.from(template.content.children)) {
      const current = region.id && document.getElementById(region.id);
      if (!current || newerPushes(region.id)) continue;
      for (const inner of region.querySelectorAll("[id]")) {
        const pushed = newerPushes(inner.id) && document.getElementById(inner.id);
        if (pushed) inner.replaceWith(pushed);
      }
      current.replaceWith(region);
      for (const list of region.querySelectorAll("[data-live-list]")) measureWindow(list);
    }
    for (const row of pushedRows) {
      if (document.getElementById(row.id)) continue;
      const list = document.querySelector("[data-live-list]");
      if (list && belongs(list, row)) placeRow(list, row);
    }
    reopen(keepOpen);
    enforceLists();
    updateTitle();
    scheduleStallResync();
    tick();
    syncCount += 1;
    body.dataset.synced = String(syncCount);
  }

  // Browser tests drop the socket to watch the page catch up; the page reconnects by itself
  // after `delay` milliseconds (default: the usual backoff).
  window.dashboardLive = {
    drop(delay) {
      if (!socket) return false;
      dropDelay = delay;
      socket.close(4000, "dropped");
      return true;
    },
    resync,
  };

  for (const list of document.querySelectorAll("[data-live-list]")) measureWindow(list);
  updateTitle();
  scheduleStallResync();
})();

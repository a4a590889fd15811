import os

# The suite runs on the embedded default unless DATABASE_URL / REDIS_URL are set; it needs a
# secret key like any non-debug start.
os.environ.setdefault("SECRET_KEY", "test-suite-secret-key-not-for-production")
# Templates resolve static names without a manifest: the suite never runs collectstatic.
os.environ.setdefault("STATIC_MANIFEST", "false")
# In-process tests read the channel layer right after a POST: push before the response. Server
# processes the suite starts keep the production default (after the response).
os.environ.setdefault("LIVE_PUSH_AFTER_RESPONSE", "false")

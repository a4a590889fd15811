from django.urls import path

from events import api, pages, views

app_name = "events"

urlpatterns = [
    path("", pages.overview, name="overview"),
    path("repos/<path:repo_id>/", pages.repository, name="repository"),
    path("runs/<int:pk>/", pages.run, name="run"),
    path("failures/", pages.failures, name="failures"),
    path("failures/<slug:slug>/", pages.failure_group, name="failure-group"),
    path("hosts/", pages.hosts, name="hosts"),
    path("events/", pages.events, name="events"),
    path("events/<int:pk>/", pages.event, name="event"),
    path("api/events/", views.ingest_event, name="ingest"),
    path("api/repos/", api.repository_list, name="api-repos"),
    path("api/runs/", api.run_list, name="api-runs"),
    path("api/runs/<int:pk>/", api.run_detail, name="api-run"),
    path("healthz", views.healthz, name="healthz"),
]

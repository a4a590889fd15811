from django.urls import path

from events import api, views

app_name = "events"

urlpatterns = [
    path("api/events/", views.ingest_event, name="ingest"),
    path("api/repos/", api.repository_list, name="api-repos"),
    path("api/runs/", api.run_list, name="api-runs"),
    path("api/runs/<int:pk>/", api.run_detail, name="api-run"),
    path("healthz", views.healthz, name="healthz"),
]

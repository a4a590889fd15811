"""The product's URLs plus the ceiling views; only the benchmark server loads this."""

from django.urls import path

from bench import views
from dashboard.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/bare/", views.bare_json, name="bench-bare"),
    path("bench/push/", views.push_prerendered, name="bench-push"),
    path("bench/counters/", views.counters, name="bench-counters"),
    *product_urlpatterns,
]

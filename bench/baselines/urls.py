from django.urls import path

from bench.baselines import views
from eventsys.urls import urlpatterns as eventsys_urlpatterns

urlpatterns = [
    path("bare/transactions/", views.BareTransactionCreate.as_view()),
    path("bare/ingest/", views.BareIngestCreate.as_view()),
    *eventsys_urlpatterns,
]

from django.urls import path
from rest_framework.routers import SimpleRouter

from events import ingestion_views, views

router = SimpleRouter()
router.register("events", views.EventViewSet, basename="event")
router.register("ingested-events", ingestion_views.IngestedEventViewSet, basename="ingested-event")

attendees = views.AttendeeViewSet.as_view({"get": "list", "post": "create"})
attendee = views.AttendeeViewSet.as_view({"delete": "destroy"})

urlpatterns = [
    *router.urls,
    path("events/<int:pk>/ics", views.EventCalendarView.as_view(), name="event-ics"),
    path("ingest/", ingestion_views.IngestView.as_view(), name="ingest"),
    path("events/<int:event_pk>/attendees/", attendees, name="event-attendees"),
    path("events/<int:event_pk>/attendees/<int:pk>/", attendee, name="event-attendee"),
]

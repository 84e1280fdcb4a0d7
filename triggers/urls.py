from rest_framework.routers import SimpleRouter

from triggers import views

router = SimpleRouter()
router.register("triggers", views.TriggerViewSet, basename="trigger")
router.register("event-logs", views.ExecutionLogViewSet, basename="event-log")

urlpatterns = router.urls

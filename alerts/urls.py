from rest_framework.routers import SimpleRouter

from alerts import views

router = SimpleRouter()
router.register("price-alerts", views.PriceAlertViewSet, basename="price-alert")
router.register("prices", views.PriceViewSet, basename="price")

urlpatterns = router.urls

from rest_framework.routers import SimpleRouter

from alerts import views

router = SimpleRouter()
router.register("price-alerts", views.PriceAlertViewSet, basename="price-alert")
router.register("prices", views.PriceViewSet, basename="price")
router.register("transactions", views.TransactionViewSet, basename="transaction")
router.register("transaction-alerts", views.TransactionAlertViewSet, basename="transaction-alert")
router.register("alert-rules", views.AlertRuleViewSet, basename="alert-rule")

urlpatterns = router.urls

import gc
import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsys.settings")

application = get_wsgi_application()

# Import the URLconf, and with it every view, serializer and model, before the first request; then
# take all these long-lived objects out of the cyclic garbage collector's sight. Otherwise each full
# collection walks them all in the middle of some request (bench/transactions at 400/s, when measured:
# the p99 was 2 to 3 times lower frozen).
import_module(settings.ROOT_URLCONF)
gc.freeze()

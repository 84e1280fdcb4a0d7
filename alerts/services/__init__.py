"""Every write and rule of the alerts app: price alerts and their polling."""

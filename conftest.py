pytest_plugins = ["baro_chassis.testing"]

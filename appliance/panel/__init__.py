"""The admin panel: a small web app on the office network to watch calls live and run the appliance."""

"""python manage.py serve_demo_node: the demo hospital's DCAT catalogue, until stopped."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from harvester import demo
from harvester.tests.nodeserver import NodeServer


class Command(BaseCommand):
    help = "Serve the demo node's catalogue (Hydra-paged Turtle with ETags) on loopback."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.DEMO_NODE_PORT)

    def handle(self, *args, port: int, **options):
        try:
            server = NodeServer(port=port).start()
        except OSError as exc:
            raise CommandError(f"Cannot listen on 127.0.0.1:{port}: {exc}") from exc
        base = f"http://127.0.0.1:{port}/dcat"
        server.routes = dict(demo.node_routes(base, **demo.CURRENT))
        self.stdout.write(f"Demo node serving {base}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()

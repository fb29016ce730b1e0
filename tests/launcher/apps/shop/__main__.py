import os

from shop import create_app

create_app().run(port=int(os.environ.get("PORT", "0")))

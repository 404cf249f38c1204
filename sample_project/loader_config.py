"""Config of the sample project: one plugin, a module with a provider, and a flag value.

A change to this file restarts the dev server.
"""

from loader import define_config

config = define_config(
    project={"http": {"port": 9000}},
    modules={
        # `blog` needs no entry: modules in src/modules/ are found by their folder.
        "notification": {
            "providers": [
                {
                    "resolve": "./src/modules/notification/providers/console",
                    "id": "console",
                    "is_default": True,
                    "options": {"prefix": "[notification]"},
                },
            ],
        },
    },
    # pip install -e ../plugins/loader-plugin-greetings
    plugins=["greetings"],
    # Config beats a flag's default_val; its environment variable beats both.
    feature_flags={"blog_comments": True},
)

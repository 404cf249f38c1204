"""Each kind collected from a real on-disk project, and each bad input it must name."""

from __future__ import annotations

import pytest

from loader import DuplicateResourceError, ResourceImportError, ResourceValidationError, load_project

GOOD_JOB = """
    from loader import job

    @job(name="nightly-sync", schedule="0 3 * * *")
    async def nightly_sync(container):
        pass
"""


def only_error(project):
    assert len(project.errors) == 1, project.errors
    return project.errors[0]


def test_route_paths_params_and_verbs(make_project) -> None:
    root = make_project({
        "src/api/store/posts/[id]/route.py": """
            async def GET(request):
                return {}

            async def DELETE(request):
                return {}

            def helper():
                pass
        """,
    })
    project = load_project(root)
    assert sorted(r.id for r in project.registry.list("route")) == ["DELETE /store/posts/{id}", "GET /store/posts/{id}"]


def test_route_file_with_no_verb(make_project) -> None:
    root = make_project({"src/api/store/empty/route.py": "async def get(request):\n    return {}\n"})
    error = only_error(load_project(root))
    assert isinstance(error, ResourceValidationError)
    assert error.location == "src/api/store/empty/route.py:1"
    assert "expected a function named one of GET, POST" in error.message


def test_duplicate_route_within_one_origin(make_project) -> None:
    body = "async def GET(request):\n    return {}\n"
    root = make_project({"src/api/posts/[id]/route.py": body, "src/api/posts/[slug]/route.py": body})
    error = only_error(load_project(root))
    assert isinstance(error, DuplicateResourceError)
    assert "src/api/posts/[id]/route.py:1" in error.format() and "src/api/posts/[slug]/route.py:1" in error.format()


def test_subscriber_default_id_is_namespaced_and_stable(make_project) -> None:
    root = make_project({
        "src/subscribers/orders.py": """
            from loader import subscriber

            @subscriber(["order.placed", "order.updated"])
            async def on_order(event, container):
                pass

            @subscriber("order.placed", subscriber_id="audit")
            async def audit(event, container):
                pass
        """,
    })
    subs = {r.id: r for r in load_project(root).registry.list("subscriber")}
    assert set(subs) == {"project:subscribers/orders:on_order", "audit"}
    assert subs["project:subscribers/orders:on_order"].meta["events"] == ["order.placed", "order.updated"]


def test_subscriber_with_no_event(make_project) -> None:
    root = make_project({
        "src/subscribers/bad.py": """
            from loader import subscriber

            @subscriber()
            async def nothing(event, container):
                pass
        """,
    })
    error = only_error(load_project(root))
    assert error.location == "src/subscribers/bad.py:3"
    assert "subscriber nothing() has no event" in error.message


def test_duplicate_subscriber_id(make_project) -> None:
    text = """
        from loader import subscriber

        @subscriber("a", subscriber_id="same")
        async def handler(event, container):
            pass
    """
    root = make_project({"src/subscribers/one.py": text, "src/subscribers/two.py": text})
    error = only_error(load_project(root))
    assert isinstance(error, DuplicateResourceError)
    assert error.location == "src/subscribers/two.py:3" and "src/subscribers/one.py:3" in error.message


def test_job_schedule_and_bad_cron(make_project) -> None:
    root = make_project({
        "src/jobs/good.py": GOOD_JOB,
        "src/jobs/every.py": """
            from loader import job

            @job(name="every-minute", schedule=60, number_of_executions=3)
            async def tick(container):
                pass
        """,
        "src/jobs/bad.py": """
            from loader import job

            @job(name="broken", schedule="61 * * * *")
            async def broken(container):
                pass
        """,
    })
    project = load_project(root)
    error = only_error(project)
    assert error.location == "src/jobs/bad.py:3"
    assert "bad cron string '61 * * * *': expected 5 fields" in error.message
    jobs = {r.id: r.meta["schedule"] for r in project.registry.list("job")}
    assert jobs == {"nightly-sync": "0 3 * * *", "every-minute": "every 60s"}


@pytest.mark.parametrize(("schedule", "expected"), [
    ("1e-9", "interval 1e-09 is below the minimum of 0.001 s (1 ms)"),
    ("0.0005", "interval 0.0005 is below the minimum"),
    ("timedelta(microseconds=10)", "is below the minimum"),
    ("float('inf')", "interval inf is not a finite number of seconds"),
    ("float('-inf')", "interval -inf is not a finite number of seconds"),
    ("float('nan')", "interval nan is not a finite number of seconds"),
    ("10**12", "interval 1000000000000 is above the maximum of 158112000 s (5 years)"),
    ("10**400", "is above the maximum"),
    ("timedelta(days=3650)", "is above the maximum"),
    ("True", "schedule True is neither a cron string nor an interval"),
    ("-5", "interval -5 must be more than 0 seconds"),
])
def test_job_interval_out_of_range_is_an_error_and_the_rest_loads(make_project, schedule: str, expected: str) -> None:
    root = make_project({
        "src/jobs/good.py": GOOD_JOB,
        "src/api/ok/route.py": "async def GET(request):\n    return {}\n",
        "src/jobs/bad.py": f"""
            from datetime import timedelta
            from loader import job

            @job(name="spin", schedule={schedule})
            async def spin(container):
                pass
        """,
    })
    project = load_project(root)
    error = only_error(project)
    assert isinstance(error, ResourceValidationError)
    assert error.location == "src/jobs/bad.py:4"
    assert error.message.startswith("job 'spin': ") and expected in error.message
    assert [r.id for r in project.registry.list("job")] == ["nightly-sync"]
    assert [r.id for r in project.registry.list("route")] == ["GET /ok"]


@pytest.mark.parametrize("schedule", ["0.001", "timedelta(days=5 * 365)", "158112000"])
def test_job_interval_at_the_limits_loads(make_project, schedule: str) -> None:
    root = make_project({
        "src/jobs/edge.py": f"from datetime import timedelta\nfrom loader import job\n\n@job(name='edge', schedule={schedule})\nasync def edge(container):\n    pass\n",
    })
    project = load_project(root)
    assert project.errors == [] and [r.id for r in project.registry.list("job")] == ["edge"]


def test_job_with_unknown_timezone(make_project) -> None:
    root = make_project({
        "src/jobs/tz.py": """
            from loader import job

            @job(name="tz", schedule="0 3 * * *", timezone="Mars/Base")
            async def tz(container):
                pass
        """,
    })
    error = only_error(load_project(root))
    assert error.location == "src/jobs/tz.py:3" and "unknown timezone 'Mars/Base'" in error.message


def test_duplicate_job_name(make_project) -> None:
    root = make_project({"src/jobs/a.py": GOOD_JOB, "src/jobs/b.py": GOOD_JOB})
    error = only_error(load_project(root))
    assert isinstance(error, DuplicateResourceError)
    assert error.location == "src/jobs/b.py:3" and "src/jobs/a.py:3" in error.message


def test_syntax_error_is_listed_and_the_rest_still_loads(make_project) -> None:
    root = make_project({
        "src/jobs/good.py": GOOD_JOB,
        "src/api/broken/route.py": "async def GET(request)\n    return {}\n",
    })
    project = load_project(root)
    error = only_error(project)
    assert isinstance(error, ResourceImportError)
    assert error.location == "src/api/broken/route.py:1"
    assert error.source_line.strip() == "async def GET(request)"
    assert [r.id for r in project.registry.list("job")] == ["nightly-sync"]


def test_error_raised_in_an_imported_helper_points_at_the_helper(make_project) -> None:
    root = make_project({
        "src/lib/pricing.py": "RATE = 1 / 0\n",
        "src/api/price/route.py": "from src.lib.pricing import RATE\n\nasync def GET(request):\n    return {}\n",
    })
    error = only_error(load_project(root))
    assert error.location == "src/lib/pricing.py:1"
    assert "ZeroDivisionError" in error.message and "while importing src/api/price/route.py" in error.message


def test_circular_import_between_two_project_files(make_project) -> None:
    root = make_project({
        "src/lib/a.py": "from src.lib.b import B\nA = 1\n",
        "src/lib/b.py": "from src.lib.a import A\nB = 2\n",
        "src/api/x/route.py": "from src.lib.a import A\n\nasync def GET(request):\n    return {}\n",
    })
    error = only_error(load_project(root))
    assert "circular import" in error.message
    assert "src/lib/a.py:1" in error.message and "src/lib/b.py:1" in error.message


def test_workflow_steps_and_compensation(make_project) -> None:
    import asyncio

    root = make_project({
        "src/workflows/publish.py": """
            from loader import StepResponse, create_step, create_workflow

            undone = []

            async def save(input, ctx):
                return StepResponse({"id": 1, **input}, compensate_input=1)

            async def undo(post_id, ctx):
                undone.append(post_id)

            async def explode(post, ctx):
                raise RuntimeError("mail server down")

            save_post = create_step("save-post", save, compensate=undo)
            notify = create_step("notify", explode, max_retries=1)

            @create_workflow("publish-post")
            async def publish_post(input, ctx):
                post = await save_post(input)
                await notify(post)
                return post
        """,
    })
    [wf] = load_project(root).registry.list("workflow")
    result = asyncio.run(wf.obj.run({"title": "t"}))
    assert not result.ok and result.errors == ["RuntimeError: mail server down"]
    assert [(s.step, s.attempts, s.compensated) for s in result.steps] == [("save-post", 1, True), ("notify", 2, False)]
    assert wf.obj.fn.__globals__["undone"] == [1]


def test_unknown_step_option_points_at_the_call(make_project) -> None:
    root = make_project({
        "src/workflows/bad.py": """
            from loader import create_step

            async def run(input, ctx):
                return None

            step = create_step("s", run, max_retry=3)
        """,
    })
    error = only_error(load_project(root))
    assert isinstance(error, ResourceValidationError)
    assert error.location == "src/workflows/bad.py:6"
    assert error.message.startswith("create_step('s'): max_retry: Extra inputs are not permitted; expected keys max_retries")


def test_imported_objects_are_collected_once_from_their_own_file(make_project) -> None:
    root = make_project({
        "src/workflows/wf.py": """
            from loader import create_workflow

            @create_workflow("wf")
            async def wf(input, ctx):
                return input
        """,
        "src/workflows/uses.py": """
            from loader import create_workflow
            from src.workflows.wf import wf

            @create_workflow("outer")
            async def outer(input, ctx):
                return await wf(input)
        """,
    })
    project = load_project(root)
    assert sorted(r.id for r in project.registry.list("workflow")) == ["outer", "wf"]


def test_middlewares(make_project) -> None:
    root = make_project({
        "src/api/middlewares.py": """
            from loader import MiddlewareRoute, define_middlewares

            async def tag(request, call_next):
                return await call_next(request)

            middlewares = define_middlewares([
                MiddlewareRoute(matcher="/store/*", middlewares=[tag]),
                {"matcher": "/admin/*", "methods": ["POST"], "middlewares": [tag]},
            ])
        """,
    })
    [mw] = load_project(root).registry.list("middlewares")
    assert [r.matcher for r in mw.obj] == ["/store/*", "/admin/*"]


def test_middleware_route_without_matcher(make_project) -> None:
    root = make_project({
        "src/api/middlewares.py": """
            from loader import define_middlewares
            middlewares = define_middlewares([{"methods": ["GET"]}])
        """,
    })
    error = only_error(load_project(root))
    assert error.location == "src/api/middlewares.py:2" and "has no 'matcher'" in error.message


@pytest.mark.parametrize("kind_dir", ["api/store/custom", "subscribers", "jobs", "workflows"])
def test_file_config_disables_every_kind_with_the_reason(make_project, kind_dir: str) -> None:
    bodies = {
        "api/store/custom": "async def GET(request):\n    return {}\n",
        "subscribers": "from loader import subscriber\n@subscriber('e')\nasync def s(event, container):\n    pass\n",
        "jobs": "from loader import job\n@job(name='j', schedule=5)\nasync def j(container):\n    pass\n",
        "workflows": "from loader import create_workflow\n@create_workflow('w')\nasync def w(input, ctx):\n    pass\n",
    }
    name = "route.py" if kind_dir.startswith("api") else "gated.py"
    gate = (
        "from loader import FeatureFlag, define_file_config\n"
        "define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled('custom_feature'))\n"
    )
    root = make_project({
        f"src/{kind_dir}/{name}": gate + bodies[kind_dir],
        "src/feature_flags/custom.py": "from loader import FlagSettings\nf = FlagSettings(key='custom_feature', env_key='LOADER_FF_CUSTOM_FEATURE')\n",
    })
    project = load_project(root)
    [resource] = [r for r in project.registry.list() if r.kind != "flag" and r.origin.kind == "project"]
    assert not resource.enabled
    assert resource.disabled_reason == "is_disabled() returned True (flags read: custom_feature=off)"
    assert resource not in project.registry.snapshot().of(resource.kind)


def test_file_config_reads_the_final_flag_value(make_project, monkeypatch) -> None:
    root = make_project({
        "src/api/custom/route.py": (
            "from loader import FeatureFlag, define_file_config\n"
            "define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled('custom_feature'))\n"
            "async def GET(request):\n    return {}\n"
        ),
        "src/feature_flags/custom.py": "from loader import FlagSettings\nf = FlagSettings(key='custom_feature', env_key='LOADER_FF_CUSTOM_FEATURE')\n",
    })
    monkeypatch.setenv("LOADER_FF_CUSTOM_FEATURE", "true")
    [route] = load_project(root).registry.list("route")
    assert route.enabled


def test_file_config_predicate_that_raises(make_project) -> None:
    root = make_project({
        "src/jobs/j.py": "from loader import define_file_config, job\ndefine_file_config(is_disabled=lambda: 1 / 0)\n"
        "@job(name='j', schedule=5)\nasync def j(container):\n    pass\n",
    })
    error = only_error(load_project(root))
    assert error.location == "src/jobs/j.py:2" and "ZeroDivisionError" in error.message

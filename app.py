"""The SPD Atlas web app: `python app.py` or `gunicorn app:server`."""

from __future__ import annotations

import logging
import os
import time

import dash
from flask import jsonify, redirect, request

from dashboard.app_state import current_study, settings
from dashboard.components.notices import report_callback_error
from dashboard.components.shell import app_shell
from dashboard.health import health
from dashboard.inference.resident import SERVER_PID_VARIABLE
from dashboard.plotly_bundle import serve_plotly_bundle
from dashboard.runtime import background_manager, cache, cache_config
from dashboard.server_timing import add_server_timing

MAX_REQUEST_BYTES = 4 * 1024 * 1024


def create_app(manager: object) -> dash.Dash:
    current = settings()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(name)s: %(message)s")
    print(f"SPD Atlas: {current.mode} mode\n{current.describe()}", flush=True)
    status = current_study()
    if status.study is not None:
        print(f"  study: {status.study.name} ({status.study.path})", flush=True)
    elif status.problem:
        print(f"  study not loaded: {status.problem}", flush=True)
    dash_app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder="dashboard/pages",
        title="SPD Atlas",
        background_callback_manager=manager,
        serve_locally=True,
        # pages fill their sections by callbacks on ids that exist only once a page is shown
        suppress_callback_exceptions=True,
        on_error=report_callback_error,
    )
    dash_app.server.secret_key = current.secret_key
    # the largest legitimate callback (32 prompts of 512 tokens, a mask) is far below this
    dash_app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    cache.init_app(dash_app.server, config=cache_config(current))
    study_label = status.study.name if status.study is not None else "no study loaded"
    dash_app.layout = app_shell(study_label)

    serve_plotly_bundle(dash_app.server, dash_app.config.routes_pathname_prefix)
    add_server_timing(dash_app.server)

    @dash_app.server.before_request
    def open_cluster_list_at_root():  # the cluster list is the home page
        if request.path == "/":
            return redirect(
                "/clusters" + (f"?{request.query_string.decode()}" if request.query_string else "")
            )
        return None

    @dash_app.server.route("/healthz")
    def healthz():  # study loaded, cache, store and workers reachable; 503 when not
        body, status = health(settings())
        return jsonify(body), status

    import callbacks  # noqa: F401  (registers every page's callbacks)

    # Dash sets itself up on its first request and, under threads, serves a second one before
    # that ends (a 500 for "dash is not a registered library"): set it up now, in one thread
    dash_app.server.test_client().get("/_dash-layout")
    if status.study is not None:
        from dashboard.study_view import warm_list

        started = time.perf_counter()
        try:
            if warm_list(status.study):
                print(f"  list read in {time.perf_counter() - started:.2f} s", flush=True)
        except Exception as error:  # the list page reports it; the server still starts
            print(f"  list not read at start: {error!r}", flush=True)
    return dash_app


# a resident inference process a job starts lives as long as this server (gunicorn's master,
# named by the server hooks; else this process)
os.environ.setdefault(SERVER_PID_VARIABLE, str(os.getpid()))
manager = background_manager(settings())
app = create_app(manager)
server = app.server
celery = (
    manager.handle if settings().mode == "scaled" else None
)  # for `spd-atlas worker --queue web`

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=settings().port, debug=False)

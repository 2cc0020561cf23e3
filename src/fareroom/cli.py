"""``fareroom`` command line: serve | worker | migrate | demo | create-business."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from fareroom.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def migrate(url: str | None = None) -> None:
    """Upgrade the database (and the sandbox's store beside it) to the newest migration."""
    from alembic import command
    from alembic.config import Config

    from fareroom.bootstrap import sandbox_database_url

    url = url or Settings().database_url
    for target in dict.fromkeys([url, sandbox_database_url(url)]):
        if target.startswith("sqlite"):
            path = target.split("///", 1)[-1]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        cfg = Config(str(REPO_ROOT / "alembic.ini"))
        cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
        cfg.set_main_option("sqlalchemy.url", target.replace("%", "%%"))
        command.upgrade(cfg, "head")


async def _create_business(name: str, email: str, password: str, country: str,
                           currency: str) -> dict[str, str]:  # fmt: skip
    from fareroom.bootstrap import bootstrap

    ctx = bootstrap()
    try:
        async with ctx.unit_of_work() as services:
            made = await services.accounts.create_business(
                name=name,
                owner_email=email,
                owner_password=password,
                country=country,
                currency=currency,
            )
        return {
            "business_id": made.business.id,
            "owner_email": made.owner.email,
            "api_key": made.api_key,
        }
    finally:
        await ctx.close()


def _print_business(made: dict[str, str], as_json: bool) -> None:
    if as_json:
        print(json.dumps(made))
    else:
        for key, value in made.items():
            print(f"{key}: {value}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fareroom")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the web app and API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-worker", action="store_true", help="run jobs in `worker` only")
    serve.add_argument("--quiet", action="store_true", help="no access log")
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    sub.add_parser("worker", help="run background jobs")
    sub.add_parser("migrate", help="upgrade the database schema")
    demo = sub.add_parser("demo", help="seed a demo business; prints its login and API key")
    demo.add_argument("--json", action="store_true")
    cb = sub.add_parser("create-business", help="create a business, its owner and an API key")
    cb.add_argument("name")
    cb.add_argument("--owner-email", required=True)
    cb.add_argument("--owner-password", required=True)
    cb.add_argument("--country", default="DE")
    cb.add_argument("--currency", default="EUR")
    cb.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from fareroom.config import ConfigError, load_settings
    from fareroom.kit.errors import FareroomError

    try:
        load_settings()  # a misconfiguration is one sentence, before anything starts
    except ConfigError as exc:
        print(f"fareroom: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        if args.command == "serve":
            import uvicorn

            from fareroom.config import Settings
            from fareroom.serving import uvicorn_options

            settings = Settings()
            if args.workers > 1 and not settings.redis_url:
                raise SystemExit(
                    "--workers > 1 needs FAREROOM_REDIS_URL: live chat shares its hub and "
                    "presence between processes through Redis"
                )
            # Several processes need the app as an import string; each builds its own.
            factory = (
                "fareroom.app:served_app" if args.no_worker else "fareroom.app:app_with_worker"
            )
            uvicorn.run(
                factory,
                factory=True,
                workers=args.workers,
                host=args.host,
                port=args.port,
                log_level="warning" if args.quiet else "info",
                access_log=not args.quiet,
                **uvicorn_options(settings),  # protocols and timeouts (serving)
            )
        elif args.command == "worker":
            from fareroom.bootstrap import bootstrap
            from fareroom.worker.loop import run_worker

            async def work() -> None:
                import signal

                ctx, stop = bootstrap(), asyncio.Event()
                for sig in (signal.SIGINT, signal.SIGTERM):  # finish the jobs in hand, then stop
                    asyncio.get_running_loop().add_signal_handler(sig, stop.set)
                try:
                    await run_worker(ctx, stop)
                finally:
                    await ctx.close()

            asyncio.run(work())
        elif args.command == "migrate":
            migrate()
        elif args.command == "demo":
            from fareroom.demo import seed

            _print_business(asyncio.run(seed()), args.json)
        elif args.command == "create-business":
            _print_business(
                asyncio.run(
                    _create_business(
                        args.name,
                        args.owner_email,
                        args.owner_password,
                        args.country,
                        args.currency,
                    )
                ),
                args.json,
            )
    except FareroomError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass

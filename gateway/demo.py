"""`somo demo`: embedded defaults, sample curriculum, demo school, then serve."""

from __future__ import annotations

import importlib

from core.demo import seed_demo
from core.migrate import upgrade
from core.runtime import get_runtime


def prepare_demo() -> list[str]:
    """Migrate, load sample packs (when the curriculum package offers them) and the demo school."""
    rt = get_runtime()
    rt.settings.somo_data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(rt.settings.sqlalchemy_url)
    notes: list[str] = []
    try:
        samples = importlib.import_module("rag.samples")
        notes.extend(samples.load_sample_packs(rt))
    except ModuleNotFoundError as exc:
        if exc.name != "rag.samples":
            raise
    with rt.session() as session:
        school = seed_demo(session)
        notes.append(f"demo school: {school.name} (class 6B, join code DEMO6B)")
    try:
        admin_demo = importlib.import_module("admin.demo")
        notes.extend(admin_demo.seed_demo_admin(rt))
    except ModuleNotFoundError as exc:
        if exc.name != "admin.demo":
            raise
    return notes


def run_demo(host: str = "127.0.0.1", port: int = 8000) -> int:
    import uvicorn

    notes = prepare_demo()
    base = f"http://{host}:{port}"
    print("Somo demo is ready.")
    for note in notes:
        print(f"  {note}")
    print(f"  simulator: {base}/")
    print(f"  admin:     {base}/admin/")
    print(f"  API docs:  {base}/docs")
    print(f"  health:    {base}/healthz")
    uvicorn.run("gateway.main:app", host=host, port=port, log_level="warning")
    return 0

"""The flow benchmark's report: a Markdown table, a PNG chart and the cost per student-month.

Cost profile (environment variables, so an operator can put in their own contract):
BENCH_MESSAGES_PER_MONTH (inbound messages a student sends a month; each gets one reply),
BENCH_SMS_SHARE (share of a student's traffic on SMS; the rest USSD/WhatsApp),
BENCH_SMS_PRICE_<PROVIDER> (USD per SMS segment), and the LLM prices from Settings.
Defaults: 120 messages, 60 % on SMS, Africa's Talking KES 0.80 = USD 0.0062 a segment,
Twilio to Kenya USD 0.2 a segment (list prices, 2024).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

PRICES = {"africastalking": 0.0062, "twilio": 0.2}


def cost_profile(result: dict) -> dict:
    from core.settings import Settings

    settings = Settings()
    messages = float(os.environ.get("BENCH_MESSAGES_PER_MONTH", "120"))
    sms_share = float(os.environ.get("BENCH_SMS_SHARE", "0.6"))
    lessons = result.get("lessons") or {}
    seg_per_reply = (lessons.get("segments_per_lesson") or 0) / max(1e-9, lessons.get("sms_per_lesson") or 1)
    seg_per_reply = seg_per_reply or 1.0
    chat = result.get("chat") or {}
    tokens_per_msg = (chat.get("llm_tokens") or 0) / max(1, chat.get("requests") or 1)
    llm_price = (settings.llm_price_in_per_1k * 0.8 + settings.llm_price_out_per_1k * 0.2) / 1000
    out = {"messages_per_month": messages, "sms_share": sms_share, "segments_per_reply": round(seg_per_reply, 3),
           "llm_tokens_per_message": round(tokens_per_msg, 1), "per_provider": {}}
    for provider, default in PRICES.items():
        price = float(os.environ.get(f"BENCH_SMS_PRICE_{provider.upper()}", default))
        sms = messages * sms_share * seg_per_reply * price
        llm = messages * tokens_per_msg * llm_price
        out["per_provider"][provider] = {"price_per_segment": price, "sms_usd": round(sms, 4),
                                         "llm_usd": round(llm, 4), "total_usd": round(sms + llm, 4)}
    return out


def _over(les: dict) -> str:
    bound = les.get("lower_bound_per_lesson") or 0
    return f"{(les['segments_per_lesson'] / bound - 1) * 100:+.1f} %" if bound else ""


def _row(cells) -> str:
    return "| " + " | ".join("" if c is None else str(c) for c in cells) + " |"


def _cpu(use: dict | None) -> str | None:
    """The machine's CPU during a phase: busy %, stolen % (None for a run from before it was read)."""
    return f"{use['busy']:g} / {use['stolen']:g}" if use else None


def markdown(result: dict) -> str:
    peak = result["peak"]
    bare, insert = (peak["bare FastAPI endpoint"]["completed_per_s"],
                    peak["bare one-INSERT endpoint"]["completed_per_s"])
    ours = peak["SMS webhook (store + queue)"]["completed_per_s"]
    lines = [f"# Somo whole-flow benchmark ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Machine: {result['machine']['cpus']} CPUs, load average at start "
             f"{result['machine']['load_avg_at_start']}; run took {result.get('wall_s')} s"
             + (f"; CPU busy {result['machine']['host_cpu']['busy']:g} %, of which stolen by the host "
                f"{result['machine']['host_cpu']['stolen']:g} %" if result["machine"].get("host_cpu") else "")
             + ". "
             f"Arguments: `{json.dumps(result['args'])}`", "",
             "## Throughput (closed loop, peak)", "",
             _row(["endpoint", "requests/s", "ratio to bare", "ratio to one-INSERT", "p50 ms", "p99 ms", "errors"]),
             _row(["---"] * 7)]
    for name, r in peak.items():
        rate = r["completed_per_s"] or 0
        lines.append(_row([name, rate, round(rate / bare, 3) if bare else None,
                           round(rate / insert, 3) if insert else None, r["server_ms"]["p50"],
                           r["server_ms"]["p99"], r["errors"] or ""]))
    lines += ["", f"Inbound SMS throughput is **{round(ours / insert * 100) if insert else '?'} %** of the bare "
              f"one-INSERT endpoint (same driver, same pool) and {round(ours / bare * 100) if bare else '?'} % "
              "of the bare endpoint.", "", "## Open loop: server time per route", "",
              "CPU busy / stolen: the machine's CPU time while a phase was measured (a staggered phase after "
              "its ramp), in %: all of it busy, part of it given by the host to other guests (steal) while "
              "this one waited.", "",
              _row(["route", "offered/s", "completed/s", "server p50", "p95", "p99", "client p99", "errors",
                    "CPU busy / stolen %"]),
              _row(["---"] * 9)]
    for key in ("ussd", "ussd_staggered", "chat"):
        r = result.get(key)
        if r is None:  # a report of a run from before the staggered phase
            continue
        lines.append(_row([r["case"], r["offered_per_s"], r["completed_per_s"], r["server_ms"]["p50"],
                           r["server_ms"]["p95"], r["server_ms"]["p99"], r["client_ms"]["p99"], r["errors"] or "",
                           _cpu(r.get("host_cpu"))]))
    lines += _ladder(result.get("ussd_ladder"), insert)
    lines += ["", "## End to end: inbound webhook sent -> its own reply handed to the provider (ms)", "",
              "Matched through the outbound row's `reply_to_id`; an inbound with no reply of its own is counted "
              "under \"no reply\" (by reason), not charged the next message's reply. \"by phone\" is the older "
              "measure (the first send to the same phone after the webhook), for comparison.", "",
              _row(["channel", "replies", "no reply", "missing", "p50", "p95", "p99", "by phone p50 / p95 / p99"]),
              _row(["---"] * 8)]
    for channel, e in result["chat"]["end_to_end_ms"].items():
        phone = e.get("by_phone") or {}
        lines.append(_row([channel, e["replies"], e.get("no_reply", 0), e["missing"], e["p50"], e["p95"], e["p99"],
                           f"{phone.get('p50')} / {phone.get('p95')} / {phone.get('p99')}"]))
    for channel, e in result["chat"]["end_to_end_ms"].items():
        if e.get("reply_stored"):
            lines.append(f"\n{channel}: reply row stored p50 / p95 {e['reply_stored']['p50']} / "
                         f"{e['reply_stored']['p95']} ms after the webhook, then handed to the provider "
                         f"p50 / p95 {e['stored_to_provider']['p50']} / {e['stored_to_provider']['p95']} ms later; "
                         f"p95 of a student's first message {e['first_message']['p95']} ms, of later ones "
                         f"{e['later_messages']['p95']} ms; p95 by quarter of the run "
                         f"{[q['p95'] for q in e['by_quarter_of_run']]}.")
    reasons = {f"{ch}: {why}": n for ch, e in result["chat"]["end_to_end_ms"].items()
               for why, n in (e.get("no_reply_by_reason") or {}).items()}
    if reasons:
        lines += ["", "No reply of their own: " + "; ".join(f"{why} ({n})" for why, n in sorted(reasons.items())) + "."]
    les = result["lessons"]
    lines += ["", "## SMS per finished Teach lesson", "",
              _row(["lessons finished", "replies sent by the student", "SMS", "segments", "lower bound (chars/153)",
                    "segments over the bound", "per-message bound", "UCS-2 share"]), _row(["---"] * 8),
              _row([f"{les['completed']}/{les['students']}", les.get("replies_per_lesson"), les["sms_per_lesson"],
                    les["segments_per_lesson"], les["lower_bound_per_lesson"], _over(les),
                    les["per_message_bound_per_lesson"], les["ucs2_share"]])]
    chat = result["chat"]
    tokens = chat["llm_tokens"]
    lines += ["", "LLM tokens per student-hour: "
              + (f"{round(tokens / chat['student_hours'])}" if result["args"].get("llm")
                 else "no LLM configured in this run (`--llm` uses the loopback mock)"), ""]
    cost = result["cost"]
    lines += ["## Cost per student-month", "",
              f"{cost['messages_per_month']:.0f} messages a month, {cost['sms_share']:.0%} of them on SMS, "
              f"{cost['segments_per_reply']} segments per SMS reply (measured above), "
              f"{cost['llm_tokens_per_message']} LLM tokens per message.", "",
              _row(["SMS provider", "USD/segment", "SMS USD", "LLM USD", "total USD"]), _row(["---"] * 5)]
    for provider, c in cost["per_provider"].items():
        lines.append(_row([provider, c["price_per_segment"], c["sms_usd"], c["llm_usd"], c["total_usd"]]))
    lines += ["", "## Peak memory per process (VmHWM, MB)", "", _row(["process", "pid: MB"]), _row(["---"] * 2)]
    for name, pids in result["memory_mb"].items():
        lines.append(_row([name, ", ".join(f"{pid}: {mb}" for pid, mb in pids.items())]))
    return "\n".join(lines) + "\n"


# The aim and its orientation figure for one INSERT (SQLAlchemy + psycopg 3, about
# 1,500 requests/s per core): on its two cores, the aim is 300 screens/s against 3,000.
AIM_SCREENS_PER_S = 300
REFERENCE_INSERTS_PER_S = 3000


def _ladder(ladder: dict | None, insert: float | None) -> list[str]:
    """The USSD capacity section: each rate tried, and the highest held beside the one-INSERT floor."""
    if not ladder:
        return []
    aim = ladder["aim_p99_ms"]
    lines = ["", f"## USSD capacity: staggered sessions at rising rates ({ladder['seconds']:g} s each)", "",
             _row(["offered/s", "completed/s", "server p50", "p95", "p99", f"p99 < {aim:g} ms", "errors",
                   "CPU busy / stolen %"]),
             _row(["---"] * 8)]
    for r in ladder["rates"]:
        lines.append(_row([r["offered_per_s"], r["completed_per_s"], r["server_ms"]["p50"], r["server_ms"]["p95"],
                           r["server_ms"]["p99"], "yes" if r["held"] else "no", r["errors"] or "",
                           _cpu(r.get("host_cpu"))]))
    held = ladder["highest_held"]
    if held is None:
        lines += ["", f"p99 missed {aim:g} ms at every rate tried."]
        return lines
    lines += ["", f"p99 stays under {aim:g} ms up to **{held:g} screens/s** of the rates tried."]
    if insert:
        ratio = AIM_SCREENS_PER_S / REFERENCE_INSERTS_PER_S
        lines.append(
            f"The bare one-INSERT endpoint served {insert:g} requests/s in this run: {held / insert:.3f} screens per "
            f"one-INSERT request. The aim ({AIM_SCREENS_PER_S} screens/s where one INSERT runs about "
            f"{REFERENCE_INSERTS_PER_S // 2:,}/s per core, the issue's orientation figure) is a ratio of {ratio:.2f}, "
            f"which is {ratio * insert:.0f} screens/s at this machine's one-INSERT rate.")
    return lines


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(result["peak"])
    left.bar(range(len(names)), [result["peak"][n]["completed_per_s"] or 0 for n in names], color="#4a7")
    left.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7)
    left.set_ylabel("requests/s (peak, closed loop)")
    groups = [("USSD server", result["ussd"]["server_ms"])]
    if result.get("ussd_staggered"):
        groups.append(("USSD staggered", result["ussd_staggered"]["server_ms"]))
    groups.append(("SMS+WA server", result["chat"]["server_ms"]))
    groups += [(f"{ch} end to end", e) for ch, e in result["chat"]["end_to_end_ms"].items()]
    for k, p in enumerate(("p50", "p95", "p99")):
        right.bar([i + k * 0.27 for i in range(len(groups))], [g[1].get(p) or 0 for g in groups], width=0.27, label=p)
    right.set_xticks([i + 0.27 for i in range(len(groups))], [g[0] for g in groups], fontsize=7)
    right.set_yscale("log")
    right.set_ylabel("ms")
    right.legend()
    fig.suptitle("Somo whole-flow benchmark")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(result: dict, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    result["cost"] = cost_profile(result)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    md, png = out / f"flow-{stamp}.md", out / f"flow-{stamp}.png"
    chart(result, png)
    md.write_text(markdown(result) + f"\n![chart]({png.name})\n", encoding="utf-8")
    (out / f"flow-{stamp}.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return md, png

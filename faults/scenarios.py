"""The trigger engine's scenarios: (a) worker killed, (b) two beats and two workers, (c) Redis killed.

Each runs its own stack (faults/stack.py), schedules its firings through the service layer, injects its
fault at fixed points of the firing window, then drains: waits until every due slot is accounted for and
nothing is pending, or until the drain period after the window ends. The accounting is faults/firings.py's.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from faults.firings import Fault, Plan, arm, create_triggers, drain, expected_slots, figures, owner
from faults.report import Result, add_exits, add_firings, add_ready
from faults.stack import Stack, running_stack


@dataclass(frozen=True)
class Size:
    name: str
    kill_firings: int  # (a) one-off firings over kill_seconds
    kill_seconds: float
    kills: int
    kill_down: float  # seconds between the kill and the restart
    pair_seconds: float  # (b)
    pair_plan: Plan
    redis_seconds: float  # (c) firing window; Redis is killed a third of the way in
    redis_outage: float
    redis_plan: Plan
    write_seconds: float  # (d) ingest + transactions under backend kills
    write_rate: float  # requests per second, each of ingest and transactions
    kill_every: float  # (d) seconds between two rounds of pg_terminate_backend
    write_plan: Plan
    drain: float  # seconds after a firing window for the last deliveries


SIZES = {
    "small": Size(
        name="small",
        kill_firings=300,
        kill_seconds=21,
        kills=3,
        kill_down=1,
        pair_seconds=15,
        pair_plan=Plan(one_offs=100, every=(1, 2, 3, 5) * 5),
        redis_seconds=25,
        redis_outage=10,
        redis_plan=Plan(one_offs=150, every=(1, 2, 5) * 4),
        write_seconds=15,
        write_rate=20,
        kill_every=1.5,
        write_plan=Plan(one_offs=60),
        drain=75,
    ),
    "full": Size(
        name="full",
        kill_firings=2000,
        kill_seconds=100,
        kills=3,
        kill_down=3,
        pair_seconds=60,
        pair_plan=Plan(one_offs=600, every=(1, 2, 3, 5, 10) * 20),
        redis_seconds=60,
        redis_outage=20,
        redis_plan=Plan(one_offs=600, every=(1, 2, 5, 10) * 10),
        write_seconds=60,
        write_rate=25,
        kill_every=2,
        write_plan=Plan(one_offs=300),
        drain=120,
    ),
}


def sleep_until(moment: float, stack: Stack) -> None:
    """Sleep until `moment` (epoch s), restarting any process that exited by itself (Stack.supervise)."""
    while (left := moment - time.time()) > 0:
        stack.supervise()
        time.sleep(min(left, 1.0))


def start_firing(stack: Stack, plan: Plan, seconds: float, user=None) -> tuple[float, float, dict]:
    """Create the plan's triggers while the celery processes start, wait until they are ready, then arm
    the triggers: (window start, window end, expected slots)."""
    provisional = create_triggers(plan=plan, sink_url=stack.sink.url, seconds=seconds, user=user or owner())
    stack.wait_ready()
    stack.wait_ready_probe()  # a fresh stack is not ready until beat and a worker have sent a heartbeat
    start = arm(provisional)
    return start, start + seconds, expected_slots()


def finish(result: Result, stack: Stack, expected: dict, end: float, size: Size, faults: list[Fault]) -> list:
    """Drain, stop the receiver and add the firing figures; returns the receiver's records."""
    due = sum(len(slots) for slots in expected.values())
    drain(due=due, until=end + size.drain, stack=stack)
    records = stack.sink.records()
    f = figures(expected=expected, records=records, faults=faults)
    add_firings(result, f, drain=size.drain, faulted=bool(faults))
    add_exits(result, stack)
    return records


def worker_kills(size: Size, log_root: Path) -> Result:
    """(a) One worker (all queues, prefork) and beat; the worker's process group is killed with SIGKILL
    `kills` times, evenly through the window, and a new worker started `kill_down` seconds later."""
    title = f"kill -9 of the worker's process group, {size.kills} times during {size.kill_firings:,} firings"
    result = Result("a", title)
    with running_stack(log_root / "a-worker-kills") as stack:
        start, end, expected = start_firing(stack, Plan(one_offs=size.kill_firings), size.kill_seconds)
        faults = []
        for k in range(1, size.kills + 1):
            sleep_until(start + (end - start) * k / (size.kills + 1), stack)
            fault = Fault(f"kill {k} at +{time.time() - start:.0f} s", down_at=time.time())
            stack.kill_group(stack.current("worker"))
            time.sleep(size.kill_down)
            stack.worker(f"worker-{k + 1}")
            fault.back_at = stack.wait_ready()
            fault.note = f" the new worker ran (ready {fault.back_at - fault.down_at:.1f} s after the kill)"
            faults.append(fault)
        sleep_until(end, stack)
        finish(result, stack, expected, end, size, faults)
        add_ready(result, stack.probe, [(fault.down_at, fault.back_at + 5) for fault in faults])
    return result


def two_of_each(size: Size, log_root: Path) -> Result:
    """(b) Two beats and two workers side by side for the window: every slot still logged and delivered once."""
    plan = size.pair_plan
    title = f"two beats and two workers for {size.pair_seconds:.0f} s ({plan.one_offs} one-off + "
    title += f"{len(plan.every)} interval triggers)"
    result = Result("b", title)
    with running_stack(
        log_root / "b-two-of-each", workers=("worker-1", "worker-2"), beats=("beat-1", "beat-2")
    ) as stack:
        start, end, expected = start_firing(stack, plan, size.pair_seconds)
        sleep_until(end, stack)
        finish(result, stack, expected, end, size, [])
        add_ready(result, stack.probe, [(start, end)], label="/api/ready/ during the run")
    return result


def redis_outage(size: Size, log_root: Path) -> Result:
    """(c) The broker (a redis-server of the suite's own, no persistence) SIGKILLed a third of the way
    through the window and restarted on the same port `redis_outage` seconds later."""
    plan = size.redis_plan
    title = f"Redis killed for {size.redis_outage:.0f} s during firing ({plan.one_offs} one-off + "
    title += f"{len(plan.every)} interval triggers over {size.redis_seconds:.0f} s)"
    result = Result("c", title)
    with running_stack(log_root / "c-redis-outage") as stack:
        start, end, expected = start_firing(stack, plan, size.redis_seconds)
        sleep_until(start + (end - start) / 3, stack)
        fault = Fault(f"Redis killed at +{time.time() - start:.0f} s", down_at=time.time())
        stack.redis.kill()
        time.sleep(size.redis_outage)
        stack.redis.start()
        fault.back_at = time.time()
        fault.note = " Redis was back"
        sleep_until(end, stack)
        records = finish(result, stack, expected, end, size, [fault])
        after = [at for _, at in records if at >= fault.back_at]
        first = f"{min(after) - fault.back_at:.1f} s" if after else "none"
        result.row("first delivery after Redis was back", first)
        add_ready(result, stack.probe, [(fault.down_at, fault.back_at + 5)])
    return result

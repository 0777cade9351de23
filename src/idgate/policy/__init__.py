"""Who may pass: a deployment's access rules compiled once into a pure :class:`Policy`.

::

    ProxySettings ──compile_policy()──> Policy
                                          │ decide(session, method, normalised_path)
                                          ▼
    skip_auth_regex matches the path? ──yes──> Decision(allowed, {"skip_auth"})
              │ no
    no session? ──────────────────────yes──> Decision(refused, {"unauthenticated"})
              │
    every criterion (criteria/email.py, criteria/groups.py) passes?
              ├─ yes ─> Decision(allowed, {"authenticated"})
              └─ no ──> Decision(refused, {each failing criterion's reason})

The edge maps ``unauthenticated`` to a login redirect (or 401 for API clients) and any other refusal to a
403 page naming the reasons. Nothing here reads the clock, the network or a request object.
"""

from idgate.policy.decision import Decision
from idgate.policy.path import normalise_path
from idgate.policy.policy import Policy, compile_policy

__all__ = ["Decision", "Policy", "compile_policy", "normalise_path"]

"""Local stand-ins for upstreams that cannot be reached from here (GitHub, GitLab, Google), speaking their
documented OAuth 2.0 and REST APIs closely enough for the connectors' tests. Never shipped."""

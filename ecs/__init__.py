"""``ecs``: the project's command (:mod:`ecs.cli`) and the libraries behind its subcommands."""

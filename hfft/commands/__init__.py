"""Command handlers: one module per `hfft` command, each the only place that turns parsed
arguments into calls of the core modules and prints the outcome. Core modules never import
this package, so they never import each other backwards through a command."""

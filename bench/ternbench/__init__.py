"""tern-bench, tern's benchmark harness (bench/tern-bench is its command), as a package: Python 3, standard library
only. cli.py is the command line, harness.py `run` on the machine you type on, driver.py the part that runs the
systems (inside the test host or natively), scenario.py the interface every scenario implements and scenarios/
the scenarios, one module each. bench/README.md maps the other modules and says how to add a scenario."""

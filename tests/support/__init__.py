"""What the tests, the demo and the benchmark share: databases, stand-ins of Generate, runs of Ansible."""

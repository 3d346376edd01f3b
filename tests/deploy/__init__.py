"""Deployment tests: the synthesized CDK template, the CDK CLI, the images built and started, the state machine
run by a real interpreter, the CI workflow."""

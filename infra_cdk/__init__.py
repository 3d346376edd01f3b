"""The AWS deployment as a CDK app: `cdk.json` at the repository root runs `infra_cdk.app`."""

"""Scenarios: YAML files (default.yaml and its schema) and generated ones, each a module here with
`build() -> dict` returning a complete scenario (scenario.py loads both kinds by name):

  large      the default scenario plus 2,000 VMs over two subscriptions, for the benchmarks
  forensics  the default scenario plus the cases evidence-taking and targeting meet: VMs with unmanaged and
             ephemeral OS disks, a dual-stack NIC, a computer name shared with another VM's name, an evidence
             resource group, and a second subscription whose addresses and names overlap the first's
"""

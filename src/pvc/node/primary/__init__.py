"""What the primary coordinator is and runs: election and handover, floating addresses, the API,
and the primary-only periodic loop.
"""

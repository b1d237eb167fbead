"""`pvc network ...`: client networks, DHCP reservations, firewall ACLs, SR-IOV devices."""

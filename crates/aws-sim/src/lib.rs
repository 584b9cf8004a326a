//! Amazon IVS and SSM simulator (placeholder until the simulator lands).

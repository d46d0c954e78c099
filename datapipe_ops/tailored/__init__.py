"""Tailored IRFs: the instrument response of one observation, simulated for its own conditions
(``datapipe tailored-irf``). Orchestrates the SimPipe stand-in, DL0 → DL1 → DL2 and the IRF
computation, so it sits above ``simulation``, ``calib``, ``reco`` and ``irf``."""

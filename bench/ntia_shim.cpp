// Batch shim around NTIA's ITM (ITM_P2P_TLS) for bench/ntia_ref.py.
//
// This file is our own code; it contains no NTIA source.  bench/ntia_ref.py
// compiles it together with NTIA's src/*.cpp into one shared library.
//
// ntia_p2p_batch: one call of NTIA's point-to-point TLS function per path,
// in order, on the calling thread.
//
//   pfl_flat + offsets[i]  the path's profile in NTIA's PFL layout
//                          [n_intervals, step_m, z_0 .. z_n] (n + 3 doubles)
//   h_tx, h_rx, f_mhz      per-path arrays (n_paths values each)
//   loss_out[i]            basic transmission loss (dB); NaN on an error
//   mode_out[i]            propagation mode 1 LOS, 2 diffraction,
//                          3 troposcatter (0 on an error).  May be NULL:
//                          then the plain ITM_P2P_TLS is called; otherwise
//                          ITM_P2P_TLS_Ex (the same computation -- the plain
//                          function is a thin wrapper of it) to read the mode.
//   warn_out[i]            NTIA warning bit flags
//   err_out[i]             NTIA's return code as is: 0 SUCCESS,
//                          1 SUCCESS_WITH_WARNINGS, >= 1000 an error
//
// Returns the number of paths whose return code was an error (not 0 or 1).

#include <cmath>

#include "itm.h"

extern "C" int ntia_p2p_batch(int n_paths, const double* pfl_flat, const long* offsets,
                              const double* h_tx, const double* h_rx, const double* f_mhz,
                              int climate, double n0, int pol, double epsilon, double sigma,
                              int mdvar, double time, double location, double situation,
                              double* loss_out, long* mode_out, long* warn_out, long* err_out)
{
    int n_errors = 0;
    for (int i = 0; i < n_paths; ++i) {
        const double* pfl = pfl_flat + offsets[i];
        double loss = NAN;
        long warnings = 0;
        int rtn;
        if (mode_out != nullptr) {
            IntermediateValues iv;
            iv.mode = 0;
            rtn = ITM_P2P_TLS_Ex(h_tx[i], h_rx[i], pfl, climate, n0, f_mhz[i], pol, epsilon,
                                 sigma, mdvar, time, location, situation, &loss, &warnings, &iv);
            mode_out[i] = (rtn == 0 || rtn == 1) ? iv.mode : 0;
        } else {
            rtn = ITM_P2P_TLS(h_tx[i], h_rx[i], pfl, climate, n0, f_mhz[i], pol, epsilon, sigma,
                              mdvar, time, location, situation, &loss, &warnings);
        }
        if (rtn != 0 && rtn != 1) {
            loss = NAN;  // NTIA leaves A__db unwritten on an error
            ++n_errors;
        }
        loss_out[i] = loss;
        warn_out[i] = warnings;
        err_out[i] = rtn;
    }
    return n_errors;
}

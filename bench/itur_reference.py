"""Reference values for ``tests/model/test_microwave.py`` computed by the
``itur`` package (0.4.0), an implementation of the ITU-R Recommendations we
did not write.

Run with itur installed (it is not a dependency of deadzone: 163 MB wheel,
astropy): ``pip install itur==0.4.0 && python bench/itur_reference.py``.
Prints the literals the test holds.

Known difference: itur's P.530 §2.3.2 shallow-fade branch (its ``step_3b``)
groups two expressions differently from P.530-17 eqs (16)-(17); the test
compares multipath only in the deep-fade region (A >= A_t), where both are
``p0 10^(-A/10)``.
"""

from __future__ import annotations

import warnings

warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
from itur.models import itu453, itu530, itu676, itu836, itu837, itu838  # noqa: E402

print("itur P.530 version", itu530.get_version(), "P.838", itu838.get_version())

print("# P.838-3 (f_ghz, tilt_deg) -> (k, alpha), elevation 0")
for f in (6.2, 7.5, 13.0, 18.7, 23.0, 38.5):
    for tau in (0.0, 90.0):
        k, a = itu838.rain_specific_attenuation_coefficients(f, 0.0, tau)
        print(f"    ({f}, {tau}, {float(k):.8g}, {float(a):.8g}),")

print("# P.530-17 rain (d_km, f_ghz, R001, p, tilt) -> A_p dB")
for d, f, r, p, tau in [(10.0, 13.0, 88.8, 0.01, 90.0), (10.0, 13.0, 88.8, 0.001, 90.0),
                        (10.0, 13.0, 88.8, 0.1, 90.0), (25.0, 7.5, 88.8, 0.01, 90.0),
                        (5.0, 23.0, 88.8, 0.01, 0.0), (3.0, 38.5, 60.0, 0.005, 90.0)]:
    a = itu530.rain_attenuation(21.0, 105.8, d, f, 0.0, p, tau=tau, R001=r)
    print(f"    ({d}, {f}, {r}, {p}, {tau}, {float(a.value):.8g}),")

print("# P.530-17 multipath deep fade (dN1, s_a, h_e, h_r, d, f, A) -> p_w %")
for lat, lon, he, hr, d, f, a in [(21.03, 105.85, 400.0, 900.0, 20.0, 7.5, 35.0),
                                  (22.4, 103.45, 1200.0, 1500.0, 10.0, 13.0, 40.0),
                                  (21.03, 105.85, 50.0, 80.0, 30.0, 6.2, 45.0)]:
    pw = itu530.multipath_loss_for_A(lat, lon, he, hr, d, f, a)
    sa = float(getattr(itu530, "__model").instance.s_a(np.array([lat]), np.array([lon]))[0])
    dn1 = itu453.DN65(lat, lon, 1).value
    print(f"    ({float(dn1):.8g}, {sa:.8g}, {he}, {hr}, {d}, {f}, {a}, {float(pw.value):.8g}),")

print("# P.676-10 Annex 2 (f, p_hpa, T_K, rho) -> gamma0 + gammaw dB/km")
itu676.change_version(10)
for f, p, t, rho in [(7.5, 1013.25, 288.15, 7.5), (13.0, 1013.25, 288.15, 7.5),
                     (23.0, 1013.25, 288.15, 7.5), (38.5, 1013.25, 288.15, 7.5),
                     (23.0, 1013.25, 298.15, 18.7), (15.0, 900.0, 293.15, 15.0)]:
    g = itu676.gamma0_approx(f, p, rho, t).value + itu676.gammaw_approx(f, p, rho, t).value
    print(f"    ({f}, {p}, {t}, {rho}, {float(g):.8g}),")

print("# climate at Hanoi")
print("R001", itu837.rainfall_rate(21.03, 105.85, 0.01), "DN65 1%", itu453.DN65(21.03, 105.85, 1),
      "rho", itu836.surface_water_vapour_density(21.03, 105.85, 50, 0.0))

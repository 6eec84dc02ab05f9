// The crate reads CPython's own structs, whose layout differs per version:
// pyo3's `Py_3_X` cfgs (for the interpreter this build is for) select them.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}

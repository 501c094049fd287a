//! `tally_uniq(UBIGINT) -> BIGINT` and `tally_uniq_state(UBIGINT) -> BLOB`: distinct counting the way
//! Plausible counts (ClickHouse `uniq`), with the set of `tally_uniq` (see the `tally-uniq` crate).
//!
//! `tally_uniq` gives the count. `tally_uniq_state` gives the set itself as bytes
//! ([`UniqSet::to_bytes`]), so that the query engine can keep the sets of parts of a range and merge them:
//! the merge of the sets of disjoint parts is exactly the set of the whole.
//!
//! Registered through DuckDB's C API for aggregate functions (duckdb-rs has no safe wrapper for them).

use duckdb::ffi;
use std::ffi::CString;
use tally_uniq::UniqSet;

// --- DuckDB C API glue -------------------------------------------------------------------------------
// A state is one pointer (null until the group sees a value) to a heap-allocated `UniqSet`.

type StatePtr = *mut *mut UniqSet;

unsafe extern "C" fn state_size(_info: ffi::duckdb_function_info) -> ffi::idx_t {
    std::mem::size_of::<*mut UniqSet>() as ffi::idx_t
}

unsafe extern "C" fn state_init(_info: ffi::duckdb_function_info, state: ffi::duckdb_aggregate_state) {
    unsafe { *(state as StatePtr) = std::ptr::null_mut() };
}

unsafe extern "C" fn update(
    _info: ffi::duckdb_function_info,
    input: ffi::duckdb_data_chunk,
    states: *mut ffi::duckdb_aggregate_state,
) {
    unsafe {
        let n = ffi::duckdb_data_chunk_get_size(input) as usize;
        let vector = ffi::duckdb_data_chunk_get_vector(input, 0);
        let data = ffi::duckdb_vector_get_data(vector) as *const u64;
        let validity = ffi::duckdb_vector_get_validity(vector);
        for i in 0..n {
            if !validity.is_null() && !ffi::duckdb_validity_row_is_valid(validity, i as ffi::idx_t) {
                continue;
            }
            let st = *states.add(i) as StatePtr;
            if (*st).is_null() {
                *st = Box::into_raw(Box::new(UniqSet::new()));
            }
            (**st).insert(*data.add(i));
        }
    }
}

unsafe extern "C" fn combine(
    _info: ffi::duckdb_function_info,
    source: *mut ffi::duckdb_aggregate_state,
    target: *mut ffi::duckdb_aggregate_state,
    count: ffi::idx_t,
) {
    unsafe {
        for i in 0..count as usize {
            let src = *source.add(i) as StatePtr;
            let tgt = *target.add(i) as StatePtr;
            if (*src).is_null() {
                continue;
            }
            if (*tgt).is_null() {
                // The source is destroyed after combining and never read again: hand its set over.
                *tgt = *src;
                *src = std::ptr::null_mut();
            } else {
                (**tgt).merge(&mut **src);
            }
        }
    }
}

/// Calls `f` with each state's position and set (`None`: the group saw no value).
///
/// # Safety
/// `source` must point to `count` states.
unsafe fn each_set(
    source: *mut ffi::duckdb_aggregate_state,
    count: ffi::idx_t,
    mut f: impl FnMut(usize, Option<&mut UniqSet>),
) {
    unsafe {
        for i in 0..count as usize {
            let st = *source.add(i) as StatePtr;
            f(i, (*st).as_mut());
        }
    }
}

unsafe extern "C" fn finalize(
    _info: ffi::duckdb_function_info,
    source: *mut ffi::duckdb_aggregate_state,
    result: ffi::duckdb_vector,
    count: ffi::idx_t,
    offset: ffi::idx_t,
) {
    unsafe {
        let out = ffi::duckdb_vector_get_data(result) as *mut i64;
        each_set(source, count, |i, set| {
            *out.add(offset as usize + i) = set.map_or(0, |s| s.estimate() as i64);
        });
    }
}

unsafe extern "C" fn finalize_state(
    _info: ffi::duckdb_function_info,
    source: *mut ffi::duckdb_aggregate_state,
    result: ffi::duckdb_vector,
    count: ffi::idx_t,
    offset: ffi::idx_t,
) {
    unsafe {
        each_set(source, count, |i, set| {
            let bytes = set.map_or_else(|| UniqSet::new().to_bytes(), |s| s.to_bytes());
            ffi::duckdb_vector_assign_string_element_len(
                result,
                offset + i as ffi::idx_t,
                bytes.as_ptr() as *const std::os::raw::c_char,
                bytes.len() as ffi::idx_t,
            );
        });
    }
}

unsafe extern "C" fn destroy(states: *mut ffi::duckdb_aggregate_state, count: ffi::idx_t) {
    unsafe {
        for i in 0..count as usize {
            let st = *states.add(i) as StatePtr;
            if !(*st).is_null() {
                drop(Box::from_raw(*st));
                *st = std::ptr::null_mut();
            }
        }
    }
}

/// Registers one aggregate over `UBIGINT` with the shared state functions.
///
/// # Safety
/// `con` must be a valid, open connection.
unsafe fn register_one(
    con: ffi::duckdb_connection,
    name: &str,
    returns: ffi::DUCKDB_TYPE,
    finalize: unsafe extern "C" fn(
        ffi::duckdb_function_info,
        *mut ffi::duckdb_aggregate_state,
        ffi::duckdb_vector,
        ffi::idx_t,
        ffi::idx_t,
    ),
) -> Result<(), String> {
    unsafe {
        let mut f = ffi::duckdb_create_aggregate_function();
        let c_name = CString::new(name).map_err(|e| e.to_string())?;
        ffi::duckdb_aggregate_function_set_name(f, c_name.as_ptr());
        let mut arg = ffi::duckdb_create_logical_type(ffi::DUCKDB_TYPE_DUCKDB_TYPE_UBIGINT);
        ffi::duckdb_aggregate_function_add_parameter(f, arg);
        ffi::duckdb_destroy_logical_type(&mut arg);
        let mut ret = ffi::duckdb_create_logical_type(returns);
        ffi::duckdb_aggregate_function_set_return_type(f, ret);
        ffi::duckdb_destroy_logical_type(&mut ret);
        ffi::duckdb_aggregate_function_set_functions(
            f,
            Some(state_size),
            Some(state_init),
            Some(update),
            Some(combine),
            Some(finalize),
        );
        ffi::duckdb_aggregate_function_set_destructor(f, Some(destroy));
        let r = ffi::duckdb_register_aggregate_function(con, f);
        ffi::duckdb_destroy_aggregate_function(&mut f);
        if r == ffi::DuckDBSuccess {
            Ok(())
        } else {
            Err(format!("registering {name} failed"))
        }
    }
}

/// Registers `tally_uniq` and `tally_uniq_state` in the database behind `con` (the system catalog: every
/// connection sees them).
///
/// # Safety
/// `con` must be a valid, open connection.
pub unsafe fn register(con: ffi::duckdb_connection) -> Result<(), String> {
    unsafe {
        register_one(con, "tally_uniq", ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGINT, finalize)?;
        register_one(con, "tally_uniq_state", ffi::DUCKDB_TYPE_DUCKDB_TYPE_BLOB, finalize_state)
    }
}

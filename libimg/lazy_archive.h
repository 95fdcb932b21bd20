#pragma once
/* libarchive, loaded on first use (libimg/lazylib.h): include this instead
 * of <archive.h> and <archive_entry.h>.  A tool that never reads or
 * writes a tar (ckt-fetch from a registry) never maps libarchive and what
 * it pulls in (libxml2, ICU, libstdc++, ...). */
#include <archive.h>
#include <archive_entry.h>

#include "libimg/lazylib.h"

/* Every libarchive function libimg calls. */
#define IMG_ARCHIVE_FUNCS(X) \
	X(archive_copy_error) \
	X(archive_entry_atime) \
	X(archive_entry_atime_is_set) \
	X(archive_entry_atime_nsec) \
	X(archive_entry_filetype) \
	X(archive_entry_free) \
	X(archive_entry_gid) \
	X(archive_entry_hardlink) \
	X(archive_entry_mtime) \
	X(archive_entry_mtime_nsec) \
	X(archive_entry_new) \
	X(archive_entry_pathname) \
	X(archive_entry_perm) \
	X(archive_entry_rdevmajor) \
	X(archive_entry_rdevminor) \
	X(archive_entry_set_filetype) \
	X(archive_entry_set_gid) \
	X(archive_entry_set_gname) \
	X(archive_entry_set_hardlink) \
	X(archive_entry_set_mode) \
	X(archive_entry_set_mtime) \
	X(archive_entry_set_pathname) \
	X(archive_entry_set_perm) \
	X(archive_entry_set_rdevmajor) \
	X(archive_entry_set_rdevminor) \
	X(archive_entry_set_size) \
	X(archive_entry_set_symlink) \
	X(archive_entry_set_uid) \
	X(archive_entry_set_uname) \
	X(archive_entry_size) \
	X(archive_entry_size_is_set) \
	X(archive_entry_symlink) \
	X(archive_entry_uid) \
	X(archive_entry_xattr_add_entry) \
	X(archive_entry_xattr_next) \
	X(archive_entry_xattr_reset) \
	X(archive_errno) \
	X(archive_error_string) \
	X(archive_filter_code) \
	X(archive_read_data) \
	X(archive_read_data_block) \
	X(archive_read_free) \
	X(archive_read_new) \
	X(archive_read_next_header) \
	X(archive_read_open) \
	X(archive_read_open_fd) \
	X(archive_read_open_filename) \
	X(archive_read_support_filter_all) \
	X(archive_read_support_filter_bzip2) \
	X(archive_read_support_filter_gzip) \
	X(archive_read_support_filter_none) \
	X(archive_read_support_filter_xz) \
	X(archive_read_support_filter_zstd) \
	X(archive_read_support_format_empty) \
	X(archive_read_support_format_raw) \
	X(archive_read_support_format_tar) \
	X(archive_set_error) \
	X(archive_write_add_filter_bzip2) \
	X(archive_write_add_filter_gzip) \
	X(archive_write_add_filter_none) \
	X(archive_write_add_filter_xz) \
	X(archive_write_close) \
	X(archive_write_data) \
	X(archive_write_free) \
	X(archive_write_header) \
	X(archive_write_new) \
	X(archive_write_open) \
	X(archive_write_open_memory) \
	X(archive_write_set_bytes_in_last_block) \
	X(archive_write_set_format_pax_restricted) \
	X(archive_write_set_format_raw) \
	X(archive_write_set_options)

struct img_archive_fns {
#define IMG_ARCHIVE_PTR(f) __typeof__(f) *f;
	IMG_ARCHIVE_FUNCS(IMG_ARCHIVE_PTR)
#undef IMG_ARCHIVE_PTR
};

extern struct img_archive_fns img_archive_fns;
extern struct img_lazylib img_archive_lib;

/* Start loading libarchive in the background (img_lazylib_preload). */
static inline void img_archive_preload(void)
{
	img_lazylib_preload(&img_archive_lib);
}

static inline const struct img_archive_fns *img_archive(void)
{
	img_lazylib_need(&img_archive_lib);
	return &img_archive_fns;
}

#define archive_copy_error(...) (img_archive()->archive_copy_error(__VA_ARGS__))
#define archive_entry_atime(...) (img_archive()->archive_entry_atime(__VA_ARGS__))
#define archive_entry_atime_is_set(...) (img_archive()->archive_entry_atime_is_set(__VA_ARGS__))
#define archive_entry_atime_nsec(...) (img_archive()->archive_entry_atime_nsec(__VA_ARGS__))
#define archive_entry_filetype(...) (img_archive()->archive_entry_filetype(__VA_ARGS__))
#define archive_entry_free(...) (img_archive()->archive_entry_free(__VA_ARGS__))
#define archive_entry_gid(...) (img_archive()->archive_entry_gid(__VA_ARGS__))
#define archive_entry_hardlink(...) (img_archive()->archive_entry_hardlink(__VA_ARGS__))
#define archive_entry_mtime(...) (img_archive()->archive_entry_mtime(__VA_ARGS__))
#define archive_entry_mtime_nsec(...) (img_archive()->archive_entry_mtime_nsec(__VA_ARGS__))
#define archive_entry_new(...) (img_archive()->archive_entry_new(__VA_ARGS__))
#define archive_entry_pathname(...) (img_archive()->archive_entry_pathname(__VA_ARGS__))
#define archive_entry_perm(...) (img_archive()->archive_entry_perm(__VA_ARGS__))
#define archive_entry_rdevmajor(...) (img_archive()->archive_entry_rdevmajor(__VA_ARGS__))
#define archive_entry_rdevminor(...) (img_archive()->archive_entry_rdevminor(__VA_ARGS__))
#define archive_entry_set_filetype(...) (img_archive()->archive_entry_set_filetype(__VA_ARGS__))
#define archive_entry_set_gid(...) (img_archive()->archive_entry_set_gid(__VA_ARGS__))
#define archive_entry_set_gname(...) (img_archive()->archive_entry_set_gname(__VA_ARGS__))
#define archive_entry_set_hardlink(...) (img_archive()->archive_entry_set_hardlink(__VA_ARGS__))
#define archive_entry_set_mode(...) (img_archive()->archive_entry_set_mode(__VA_ARGS__))
#define archive_entry_set_mtime(...) (img_archive()->archive_entry_set_mtime(__VA_ARGS__))
#define archive_entry_set_pathname(...) (img_archive()->archive_entry_set_pathname(__VA_ARGS__))
#define archive_entry_set_perm(...) (img_archive()->archive_entry_set_perm(__VA_ARGS__))
#define archive_entry_set_rdevmajor(...) (img_archive()->archive_entry_set_rdevmajor(__VA_ARGS__))
#define archive_entry_set_rdevminor(...) (img_archive()->archive_entry_set_rdevminor(__VA_ARGS__))
#define archive_entry_set_size(...) (img_archive()->archive_entry_set_size(__VA_ARGS__))
#define archive_entry_set_symlink(...) (img_archive()->archive_entry_set_symlink(__VA_ARGS__))
#define archive_entry_set_uid(...) (img_archive()->archive_entry_set_uid(__VA_ARGS__))
#define archive_entry_set_uname(...) (img_archive()->archive_entry_set_uname(__VA_ARGS__))
#define archive_entry_size(...) (img_archive()->archive_entry_size(__VA_ARGS__))
#define archive_entry_size_is_set(...) (img_archive()->archive_entry_size_is_set(__VA_ARGS__))
#define archive_entry_symlink(...) (img_archive()->archive_entry_symlink(__VA_ARGS__))
#define archive_entry_uid(...) (img_archive()->archive_entry_uid(__VA_ARGS__))
#define archive_entry_xattr_add_entry(...) (img_archive()->archive_entry_xattr_add_entry(__VA_ARGS__))
#define archive_entry_xattr_next(...) (img_archive()->archive_entry_xattr_next(__VA_ARGS__))
#define archive_entry_xattr_reset(...) (img_archive()->archive_entry_xattr_reset(__VA_ARGS__))
#define archive_errno(...) (img_archive()->archive_errno(__VA_ARGS__))
#define archive_error_string(...) (img_archive()->archive_error_string(__VA_ARGS__))
#define archive_filter_code(...) (img_archive()->archive_filter_code(__VA_ARGS__))
#define archive_read_data(...) (img_archive()->archive_read_data(__VA_ARGS__))
#define archive_read_data_block(...) (img_archive()->archive_read_data_block(__VA_ARGS__))
#define archive_read_free(...) (img_archive()->archive_read_free(__VA_ARGS__))
#define archive_read_new(...) (img_archive()->archive_read_new(__VA_ARGS__))
#define archive_read_next_header(...) (img_archive()->archive_read_next_header(__VA_ARGS__))
#define archive_read_open(...) (img_archive()->archive_read_open(__VA_ARGS__))
#define archive_read_open_fd(...) (img_archive()->archive_read_open_fd(__VA_ARGS__))
#define archive_read_open_filename(...) (img_archive()->archive_read_open_filename(__VA_ARGS__))
#define archive_read_support_filter_all(...) (img_archive()->archive_read_support_filter_all(__VA_ARGS__))
#define archive_read_support_filter_bzip2(...) (img_archive()->archive_read_support_filter_bzip2(__VA_ARGS__))
#define archive_read_support_filter_gzip(...) (img_archive()->archive_read_support_filter_gzip(__VA_ARGS__))
#define archive_read_support_filter_none(...) (img_archive()->archive_read_support_filter_none(__VA_ARGS__))
#define archive_read_support_filter_xz(...) (img_archive()->archive_read_support_filter_xz(__VA_ARGS__))
#define archive_read_support_filter_zstd(...) (img_archive()->archive_read_support_filter_zstd(__VA_ARGS__))
#define archive_read_support_format_empty(...) (img_archive()->archive_read_support_format_empty(__VA_ARGS__))
#define archive_read_support_format_raw(...) (img_archive()->archive_read_support_format_raw(__VA_ARGS__))
#define archive_read_support_format_tar(...) (img_archive()->archive_read_support_format_tar(__VA_ARGS__))
#define archive_set_error(...) (img_archive()->archive_set_error(__VA_ARGS__))
#define archive_write_add_filter_bzip2(...) (img_archive()->archive_write_add_filter_bzip2(__VA_ARGS__))
#define archive_write_add_filter_gzip(...) (img_archive()->archive_write_add_filter_gzip(__VA_ARGS__))
#define archive_write_add_filter_none(...) (img_archive()->archive_write_add_filter_none(__VA_ARGS__))
#define archive_write_add_filter_xz(...) (img_archive()->archive_write_add_filter_xz(__VA_ARGS__))
#define archive_write_close(...) (img_archive()->archive_write_close(__VA_ARGS__))
#define archive_write_data(...) (img_archive()->archive_write_data(__VA_ARGS__))
#define archive_write_free(...) (img_archive()->archive_write_free(__VA_ARGS__))
#define archive_write_header(...) (img_archive()->archive_write_header(__VA_ARGS__))
#define archive_write_new(...) (img_archive()->archive_write_new(__VA_ARGS__))
#define archive_write_open(...) (img_archive()->archive_write_open(__VA_ARGS__))
#define archive_write_open_memory(...) (img_archive()->archive_write_open_memory(__VA_ARGS__))
#define archive_write_set_bytes_in_last_block(...) (img_archive()->archive_write_set_bytes_in_last_block(__VA_ARGS__))
#define archive_write_set_format_pax_restricted(...) (img_archive()->archive_write_set_format_pax_restricted(__VA_ARGS__))
#define archive_write_set_format_raw(...) (img_archive()->archive_write_set_format_raw(__VA_ARGS__))
#define archive_write_set_options(...) (img_archive()->archive_write_set_options(__VA_ARGS__))

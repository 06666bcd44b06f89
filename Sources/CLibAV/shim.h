#ifndef INBOXD_CLIBAV_SHIM_H
#define INBOXD_CLIBAV_SHIM_H
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavutil/opt.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/imgutils.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/sha.h>
#include <libavutil/hmac.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

/* Macros Swift cannot import (casts, FFERRTAG, function-like), as prefixed values. */
static const int inboxd_AVERROR_EOF = AVERROR_EOF;
static const int inboxd_AVERROR_EXIT = AVERROR_EXIT;
static const int inboxd_AVERROR_INVALIDDATA = AVERROR_INVALIDDATA;
static const int64_t inboxd_AV_NOPTS_VALUE = AV_NOPTS_VALUE;
static inline int inboxd_AVERROR(int e) { return AVERROR(e); }
static inline AVRational inboxd_AV_TIME_BASE_Q(void) { return AV_TIME_BASE_Q; }
#endif

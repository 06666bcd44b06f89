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

/* A stream's display matrix (9 int32), or NULL. FFmpeg 6.1 (libavcodec 60.29) moved stream side data into
   AVCodecParameters.coded_side_data and deprecated av_stream_get_side_data, which 7.0 removed; older
   releases (5.1 on Debian 12) have only the stream's own side data. */
static inline const uint8_t *inboxd_stream_display_matrix(const AVStream *st, size_t *size) {
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(60, 29, 100)
    const AVPacketSideData *sd = av_packet_side_data_get(st->codecpar->coded_side_data,
                                                         st->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
    if (!sd) return NULL;
    *size = sd->size;
    return sd->data;
#else
    return av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, size);
#endif
}
#endif

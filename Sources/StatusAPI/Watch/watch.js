// The watch page's behaviour (GET /videos/{id}); served by inboxd as /assets/watch.js, no inline script.
// State for tests and curious users: window.watchState (events seen, errors, the source playing and every source
// loaded, the seconds played per source, CSP violations),
// watchState.currentTime(), watchState.error(), watchState.resolution() (VHS's selected rung) — see README.
(function () {
  'use strict';
  // Runs before video.min.js (the page loads this first): Video.js would add <style> elements as it loads, which the
  // page's Content-Security-Policy refuses; watch.css has their rules.
  window.VIDEOJS_NO_DYNAMIC_STYLE = true;
  var cspViolations = [];
  document.addEventListener('securitypolicyviolation', function (e) {
    cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
  });
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }

  function start() {
    var root = document.getElementById('watch');
    if (!root) { return; }
    var data = root.dataset;
    var statusLine = document.getElementById('status');
    var progressBar = document.getElementById('progress');
    var state = window.watchState = {
      engine: data.engine, status: data.status, source: null, sources: [], events: [], errors: [], cspViolations: cspViolations,
      player: null, played: {}, previewRetries: [],
      currentTime: function () { return state.player ? state.player.currentTime() : null; },
      error: function () { var e = state.player && state.player.error(); return e ? { code: e.code, message: e.message } : null; },
      vhs: function () { var tech = state.player && state.player.tech_; return (tech && tech.hls) || null; },
      resolution: function () {
        var vhs = state.vhs(), media = vhs && vhs.playlists.media();
        var r = media && media.attributes && media.attributes.RESOLUTION;
        return r ? r.width + 'x' + r.height : null;
      }
    };
    function showStatus(s) {
      state.status = s.status;
      if (s.status === 'ready') {
        statusLine.textContent = 'Ready';
        progressBar.hidden = true;
      } else if (s.status === 'failed') {
        statusLine.textContent = 'Conversion failed: ' + (s.error || 'no error text was recorded');
        statusLine.className = 'failed';
        statusLine.setAttribute('role', 'alert');
        progressBar.hidden = true;
      } else {
        var p = Math.max(0, Math.min(1, s.progress || 0));
        statusLine.textContent = 'Processing: ' + s.phase + ', ' + Math.floor(p * 100) + ' %';
        progressBar.value = p;
      }
    }

    if (typeof window.videojs !== 'function') {
      state.errors.push('video.js not loaded');
      if (!document.getElementById('player-missing')) {
        statusLine.textContent = 'The video player (Video.js) did not load, so this page cannot play the video.';
        statusLine.className = 'failed';
      }
    } else {
      var options = { preload: 'auto', muted: true, autoplay: true, fluid: true };
      if (data.engine === 'vhs') {
        options.html5 = { hls: { overrideNative: true }, nativeAudioTracks: false, nativeVideoTracks: false };
      }
      state.player = window.videojs('player', options);
      ['loadedmetadata', 'playing', 'pause', 'waiting', 'ended', 'error'].forEach(function (name) {
        state.player.on(name, function () { state.events.push(name); });
      });
      // Seconds actually played per source (whatever position a live playlist started at).
      var last = null, position = 0;
      state.player.on('timeupdate', function () {
        var now = { source: state.source, t: state.player.currentTime() };
        if (now.t > 0) { position = now.t; }
        if (last && last.source === now.source && now.t > last.t && now.t - last.t < 2) {
          state.played[now.source] = (state.played[now.source] || 0) + (now.t - last.t);
        }
        last = now;
      });
      state.player.on('error', function () {
        var e = state.player.error();
        var text = e ? e.code + ': ' + e.message : 'unknown player error';
        // A preview that has just appeared may be too short for the browser's own HLS (one segment of an EVENT
        // playlist): try it again while the job runs, as more segments land.
        if (state.status === 'processing' && state.source && state.previewRetries.length < 20) {
          state.previewRetries.push(text);
          var url = state.source;
          setTimeout(function () { if (state.source === url) { load(url, true); } }, 2000);
          return;
        }
        state.errors.push(text);
      });
    }

    function load(url, again) {
      if (!url || (url === state.source && !again) || !state.player) { return; }
      // From the preview to the final master, or the preview again: carry on where the viewer was.
      var resumeAt = state.source ? position : 0;
      if (again) { state.player.error(null); } else { state.sources.push(url); }
      state.source = url;
      state.player.src({ src: url, type: 'application/x-mpegURL' });
      if (resumeAt > 0) { state.player.one('loadedmetadata', function () { state.player.currentTime(resumeAt); }); }
      var played = state.player.play();
      if (played && played.catch) { played.catch(function (e) { state.errors.push('play(): ' + e.message); }); }
    }
    load(data.src);

    // While processing: the status line and bar follow the SSE stream; the preview plays as soon as there is one,
    // the final master once the job is ready.
    if (data.status === 'processing' && window.EventSource) {
      var stream = new EventSource(data.stream);
      stream.addEventListener('status', function (event) {
        var s = JSON.parse(event.data);
        showStatus(s);
        if (s.status === 'ready') {
          stream.close();
          load(s.video_url);
        } else if (s.status === 'failed') {
          stream.close();
        } else if (s.preview_url && !state.source) {
          load(s.preview_url);
        }
      });
      stream.onerror = function () { if (state.status !== 'processing') { stream.close(); } };
    }
  }
})();

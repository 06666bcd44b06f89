// The watch page's behaviour (GET /videos/{id}); served by inboxd as /assets/watch.js, no inline script.
// State for tests and curious users: window.watchState (events seen, errors, the source playing and every source
// loaded, the furthest position played per source, CSP violations),
// watchState.currentTime(), watchState.error(), watchState.resolution() (VHS's selected rung) — see README.
(function () {
  'use strict';
  var root = document.getElementById('watch');
  if (!root) { return; }
  var data = root.dataset;
  var statusLine = document.getElementById('status');
  var progressBar = document.getElementById('progress');
  var state = window.watchState = {
    engine: data.engine, status: data.status, source: null, sources: [], events: [], errors: [], cspViolations: [],
    player: null, played: {},
    currentTime: function () { return state.player ? state.player.currentTime() : null; },
    error: function () { var e = state.player && state.player.error(); return e ? { code: e.code, message: e.message } : null; },
    vhs: function () { var tech = state.player && state.player.tech_; return (tech && tech.hls) || null; },
    resolution: function () {
      var vhs = state.vhs(), media = vhs && vhs.playlists.media();
      var r = media && media.attributes && media.attributes.RESOLUTION;
      return r ? r.width + 'x' + r.height : null;
    }
  };
  document.addEventListener('securitypolicyviolation', function (e) {
    state.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
  });

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
    // Video.js would add <style> elements, which the page's Content-Security-Policy refuses; watch.css has them.
    window.VIDEOJS_NO_DYNAMIC_STYLE = true;
    var options = { preload: 'auto', muted: true, autoplay: true, fluid: true };
    if (data.engine === 'vhs') {
      options.html5 = { hls: { overrideNative: true }, nativeAudioTracks: false, nativeVideoTracks: false };
    }
    state.player = window.videojs('player', options);
    ['loadedmetadata', 'playing', 'pause', 'waiting', 'ended', 'error'].forEach(function (name) {
      state.player.on(name, function () { state.events.push(name); });
    });
    state.player.on('timeupdate', function () {
      if (state.source) { state.played[state.source] = Math.max(state.played[state.source] || 0, state.player.currentTime()); }
    });
    state.player.on('error', function () {
      var e = state.player.error();
      state.errors.push(e ? e.code + ': ' + e.message : 'unknown player error');
    });
  }

  function load(url) {
    if (!url || url === state.source || !state.player) { return; }
    // From the preview to the final master: carry on where the viewer is.
    var resumeAt = state.source ? state.player.currentTime() : 0;
    state.source = url;
    state.sources.push(url);
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
})();

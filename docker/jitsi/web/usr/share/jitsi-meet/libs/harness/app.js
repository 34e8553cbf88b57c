// jitsi-harness local web image: joins the room named by the URL path the way jitsi-meet / lib-jitsi-meet
// do, minus media, and keeps what it sees in the shape the harness's `jitsi-meet` browser profile reads
// (harness/src/participant/browser.rs). Written for this project; no jitsi-meet code.
//
// Input, as jitsi-meet takes it:
//   path      /<room>                       (lower-cased, as XMPP node names are)
//   ?jwt=     the token; sent as ?room=<room>&token=<jwt> on the WebSocket URL and as the `token`
//             attribute of the focus request
//   #hash     config.<key>=<JSON> overrides of window.config, userInfo.displayName=<JSON>
//   /config.js  config.hosts.{domain,muc,anonymousdomain}, config.websocket (rendered from the web env)
//
// Join, as lib-jitsi-meet does: XMPP over WebSocket, SASL ANONYMOUS on hosts.domain (or on
// hosts.anonymousdomain when there is no token and that is set), the focus <conference/> request to
// focus.<domain> (ready='false' retried after 1 s, doubling), then the MUC join with the first 8 characters
// of its own login name as nick (its endpoint id) and the display name in <nick xmlns=…nick>.
//
// Exposed:
//   APP.store.getState()['features/base/participants'] = { local: {id, name, role, local}, remote: Map(id →
//     {id, name, role}) }  (the focus is left out); ['features/base/connection'].error and
//     ['features/base/conference'].{error, authRequired} as {name, message} with lib-jitsi-meet's error names
//   APP.conference.isJoined(), getMyUserId(), hangup(), _room.grantOwner(id), _room.kickParticipant(id)
(function () {
  'use strict';

  var NS = {
    focus: 'http://jitsi.org/protocol/focus',
    muc: 'http://jabber.org/protocol/muc',
    mucUser: 'http://jabber.org/protocol/muc#user',
    mucAdmin: 'http://jabber.org/protocol/muc#admin',
    nick: 'http://jabber.org/protocol/nick',
    stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
    sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
    discoInfo: 'http://jabber.org/protocol/disco#info',
    ping: 'urn:xmpp:ping',
    jingle: 'urn:xmpp:jingle:1'
  };
  var REQUEST_TIMEOUT_MS = 10000;
  var FOCUS_MAX_BACKOFF_MS = 16000;
  var LEAVE_TIMEOUT_MS = 3000;

  var config = window.config || {};
  var hosts = config.hosts || {};

  // --- the URL ----------------------------------------------------------------------------------------
  var room = decodeURIComponent(window.location.pathname.replace(/^\/+/, '').split('/')[0] || '').toLowerCase();
  var jwt = new URLSearchParams(window.location.search).get('jwt') || '';
  var displayName = null;
  window.location.hash.replace(/^#/, '').split('&').forEach(function (pair) {
    var eq = pair.indexOf('=');
    if (eq <= 0) {
      return;
    }
    var key = decodeURIComponent(pair.slice(0, eq));
    var value;
    try {
      value = JSON.parse(decodeURIComponent(pair.slice(eq + 1)));
    } catch (e) {
      console.warn('[app] ignoring hash parameter ' + key + ': its value is not JSON');
      return;
    }
    if (key === 'userInfo.displayName') {
      displayName = value == null ? null : String(value);
    } else if (key.indexOf('config.') === 0) {
      var path = key.slice('config.'.length).split('.');
      var target = config;
      for (var i = 0; i < path.length - 1; i++) {
        if (typeof target[path[i]] !== 'object' || target[path[i]] === null) {
          target[path[i]] = {};
        }
        target = target[path[i]];
      }
      target[path[path.length - 1]] = value;
    }
  });

  // --- the store --------------------------------------------------------------------------------------
  var participants = { local: null, remote: new Map() };
  var connectionState = { error: null };
  var conferenceState = { error: null, authRequired: false };
  var joined = false;
  var myId = null;
  var conn = null;
  var roomJid = room + '@' + hosts.muc;
  var focusJid = null;
  var members = new Map(); // nick → {jid, role, affiliation, name}
  var saslFailure = null;
  var leaving = null;
  var hungUp = false;

  function error(name, message) {
    return { name: name, message: message || null };
  }

  function render() {
    var status = document.getElementById('status');
    if (!status) {
      return;
    }
    document.getElementById('title').textContent = 'room ' + room + (displayName ? ' as ' + displayName : '');
    status.textContent = joined ? 'joined' : hungUp ? 'left' : 'connecting';
    var e = connectionState.error || conferenceState.error;
    document.getElementById('error').textContent = e ? e.name + (e.message ? ' (' + e.message + ')' : '') : '';
    var body = document.getElementById('participants');
    while (body.firstChild) {
      body.removeChild(body.firstChild);
    }
    var rows = participants.local ? [participants.local] : [];
    participants.remote.forEach(function (p) { rows.push(p); });
    rows.forEach(function (p) {
      var tr = document.createElement('tr');
      if (p.role === 'moderator') {
        tr.className = 'moderator';
      }
      [p.id + (p.local ? ' (me)' : ''), p.name || '', p.role].forEach(function (v) {
        var td = document.createElement('td');
        td.textContent = v;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function isFocus(nick, member) {
    if (member.jid && focusJid) {
      return Strophe.getBareJidFromJid(member.jid) === Strophe.getBareJidFromJid(focusJid);
    }
    return nick === 'focus';
  }

  function rebuild() {
    participants.remote = new Map();
    members.forEach(function (m, nick) {
      if (nick === myId || isFocus(nick, m)) {
        return;
      }
      participants.remote.set(nick, { id: nick, name: m.name, role: m.role });
    });
    var me = myId && members.get(myId);
    participants.local = me ? { id: myId, name: displayName, role: me.role, local: true } : null;
    render();
  }

  // <error><condition/><text/></error> → [condition, text]
  function errorOf(stanza) {
    if (!stanza) {
      return ['timeout', 'no answer within ' + REQUEST_TIMEOUT_MS + ' ms'];
    }
    var condition = 'undefined-condition';
    var text = null;
    var e = stanza.getElementsByTagName('error')[0];
    for (var c = e ? e.firstElementChild : null; c; c = c.nextElementSibling) {
      if (c.localName === 'text') {
        text = c.textContent;
      } else if (c.namespaceURI === NS.stanzas) {
        condition = c.localName;
      }
    }
    return [condition, text];
  }

  function child(element, ns, name) {
    for (var c = element ? element.firstElementChild : null; c; c = c.nextElementSibling) {
      if (c.namespaceURI === ns && c.localName === name) {
        return c;
      }
    }
    return null;
  }

  function shutdown() {
    if (conn) {
      try {
        conn.disconnect('closing');
      } catch (e) {
        console.warn('[app] disconnect threw: ' + e);
      }
    }
  }

  // lib-jitsi-meet's names for a refused MUC join (JitsiConferenceErrors).
  function roomError(condition, text) {
    var names = {
      'not-allowed': 'conference.connectionError.notAllowed',
      'registration-required': 'conference.connectionError.membersOnly',
      'forbidden': 'conference.connectionError.accessDenied',
      'not-authorized': 'conference.passwordRequired',
      'service-unavailable': 'conference.max_users'
    };
    return error(names[condition] || 'conference.setupFailed', text || condition);
  }

  // --- stanzas ----------------------------------------------------------------------------------------
  function onPresence(p) {
    var from = p.getAttribute('from') || '';
    if (Strophe.getBareJidFromJid(from) !== roomJid) {
      return true;
    }
    var nick = Strophe.getResourceFromJid(from);
    var type = p.getAttribute('type');
    if (type === 'error') {
      if (nick === myId && !joined) {
        var e = errorOf(p);
        conferenceState.error = roomError(e[0], e[1]);
        console.warn('[app] the room refused the join: ' + e[0] + (e[1] ? ' (' + e[1] + ')' : ''));
        shutdown();
        render();
      }
      return true;
    }
    var x = child(p, NS.mucUser, 'x');
    var item = child(x, NS.mucUser, 'item');
    var codes = [];
    for (var c = x ? x.firstElementChild : null; c; c = c.nextElementSibling) {
      if (c.localName === 'status') {
        codes.push(c.getAttribute('code'));
      }
    }
    if (type === 'unavailable') {
      members.delete(nick);
      if (nick === myId) {
        // Out of the conference (left, or kicked with status 307): nobody is seen any more.
        joined = false;
        members.clear();
        if (codes.indexOf('307') >= 0 && !leaving) {
          console.warn('[app] kicked from the room');
        }
        if (leaving) {
          leaving();
        }
      }
    } else {
      var old = members.get(nick) || {};
      var name = child(p, NS.nick, 'nick');
      members.set(nick, {
        jid: (item && item.getAttribute('jid')) || old.jid || null,
        role: (item && item.getAttribute('role')) || 'none',
        affiliation: (item && item.getAttribute('affiliation')) || 'none',
        name: name ? name.textContent : (old.name || null)
      });
      if (nick === myId && !joined && !hungUp) {
        joined = true;
        console.info('[app] joined ' + roomJid + ' as ' + myId);
      }
    }
    rebuild();
    return true;
  }

  function fromFocus(from) {
    var bare = from ? Strophe.getBareJidFromJid(from) : '';
    return bare === focusService() || (focusJid && bare === Strophe.getBareJidFromJid(focusJid)) ||
      (bare === roomJid && Strophe.getResourceFromJid(from) === 'focus');
  }

  // disco#info and ping get a result; IQ sets from the focus (Jingle offers and the like) are accepted, as a
  // participant without media would; anything else is service-unavailable.
  function onIq(iq) {
    var type = iq.getAttribute('type');
    if (type !== 'get' && type !== 'set') {
      return true;
    }
    var from = iq.getAttribute('from');
    var payload = iq.firstElementChild;
    var ns = payload ? payload.namespaceURI : null;
    var reply = $iq({ type: 'result', to: from, id: iq.getAttribute('id') });
    if (type === 'get' && ns === NS.discoInfo) {
      reply.c('query', { xmlns: NS.discoInfo }).c('identity', { category: 'client', type: 'web', name: 'jitsi-harness' }).up();
      [NS.discoInfo, NS.ping, NS.jingle].forEach(function (f) { reply.c('feature', { 'var': f }).up(); });
    } else if (!((type === 'get' && ns === NS.ping) || (type === 'set' && (fromFocus(from) || ns === NS.jingle)))) {
      reply = $iq({ type: 'error', to: from, id: iq.getAttribute('id') })
        .c('error', { type: 'cancel' }).c('service-unavailable', { xmlns: NS.stanzas });
    }
    conn.send(reply.tree());
    return true;
  }

  // --- the join ---------------------------------------------------------------------------------------
  function focusService() {
    return hosts.focus || ('focus.' + hosts.domain);
  }

  function askFocus(backoff) {
    if (hungUp) {
      return;
    }
    var attrs = { xmlns: NS.focus, room: roomJid, 'machine-uid': machineUid() };
    if (jwt) {
      attrs.token = jwt;
    }
    conn.sendIQ($iq({ type: 'set', to: focusService() }).c('conference', attrs).tree(), function (answer) {
      var conference = answer.getElementsByTagNameNS(NS.focus, 'conference')[0];
      if (conference && conference.getAttribute('ready') === 'true') {
        focusJid = conference.getAttribute('focusjid') || null;
        joinRoom();
        return;
      }
      console.info('[app] the focus is not ready, asking again in ' + backoff + ' ms');
      setTimeout(function () { askFocus(Math.min(backoff * 2, FOCUS_MAX_BACKOFF_MS)); }, backoff);
    }, function (answer) {
      var e = errorOf(answer);
      if (e[0] === 'not-authorized') {
        conferenceState.authRequired = true;
        conferenceState.error = error('conference.authenticationRequired', e[1]);
        render();
        return;
      }
      if (e[0] === 'not-acceptable' || e[0] === 'forbidden') {
        conferenceState.error = error('conference.connectionError.notAllowed', e[1] || e[0]);
        render();
        return;
      }
      // No focus yet (service-unavailable, a timeout): lib-jitsi-meet keeps asking with a growing delay.
      console.warn('[app] the focus request failed (' + e[0] + '), asking again in ' + backoff + ' ms');
      setTimeout(function () { askFocus(Math.min(backoff * 2, FOCUS_MAX_BACKOFF_MS)); }, backoff);
    }, REQUEST_TIMEOUT_MS);
  }

  function machineUid() {
    var key = 'jitsiLocalStorage.machineUid';
    try {
      var v = window.localStorage.getItem(key);
      if (!v) {
        v = Math.random().toString(16).slice(2) + Date.now().toString(16);
        window.localStorage.setItem(key, v);
      }
      return v;
    } catch (e) {
      return 'no-storage-' + Math.random().toString(16).slice(2);
    }
  }

  function joinRoom() {
    var presence = $pres({ to: roomJid + '/' + myId }).c('x', { xmlns: NS.muc }).up();
    if (displayName) {
      presence.c('nick', { xmlns: NS.nick }).t(displayName).up();
    }
    conn.send(presence.tree());
  }

  function onStatus(status, condition) {
    var S = Strophe.Status;
    if (status === S.CONNECTED) {
      // lib-jitsi-meet: the endpoint id is the first 8 characters of the login's node.
      myId = Strophe.getNodeFromJid(conn.jid).substr(0, 8);
      console.info('[app] logged in as ' + conn.jid);
      conn.addHandler(onPresence, null, 'presence');
      conn.addHandler(onIq, null, 'iq');
      askFocus(1000);
    } else if (status === S.AUTHFAIL) {
      connectionState.error = error('connection.passwordRequired', saslFailure ? saslFailure.join(': ') : condition);
    } else if (status === S.CONNFAIL || status === S.ERROR || status === S.CONNTIMEOUT) {
      // After a refusal the page closes the connection itself: that is not a connection error.
      if (!hungUp && !connectionState.error && !conferenceState.error) {
        connectionState.error = error('connection.otherError', condition || 'connection failed');
      }
    } else if (status === S.DISCONNECTED) {
      joined = false;
      if (!hungUp && !connectionState.error && !conferenceState.error) {
        connectionState.error = error('connection.droppedError', condition || 'disconnected');
      }
    }
    render();
  }

  function watchInput(element) {
    if (element && element.localName === 'failure' && element.namespaceURI === NS.sasl) {
      var condition = 'failure';
      var text = null;
      for (var c = element.firstElementChild; c; c = c.nextElementSibling) {
        if (c.localName === 'text') {
          text = c.textContent;
        } else {
          condition = c.localName;
        }
      }
      saslFailure = text ? [condition, text] : [condition];
    }
  }

  // --- what the harness calls -------------------------------------------------------------------------
  function admin(item, what) {
    if (!joined) {
      console.warn('[app] ' + what + ': not in the room');
      return;
    }
    var iq = $iq({ type: 'set', to: roomJid }).c('query', { xmlns: NS.mucAdmin }).c('item', item);
    conn.sendIQ(iq.tree(), function () {
      console.info('[app] ' + what + ': done');
    }, function (answer) {
      var e = errorOf(answer);
      console.warn('[app] ' + what + ' failed: ' + e[0] + (e[1] ? ' (' + e[1] + ')' : ''));
    }, REQUEST_TIMEOUT_MS);
  }

  var theRoom = {
    // As lib-jitsi-meet's grantOwner: owner affiliation for the participant's real bare JID.
    grantOwner: function (id) {
      var m = members.get(id);
      if (!m || !m.jid) {
        console.warn('[app] grantOwner(' + id + '): no such participant, or its real JID is hidden');
        return;
      }
      admin({ affiliation: 'owner', jid: Strophe.getBareJidFromJid(m.jid) }, 'grantOwner(' + id + ')');
    },
    kickParticipant: function (id) {
      admin({ nick: id, role: 'none' }, 'kickParticipant(' + id + ')');
    }
  };

  window.APP = {
    store: {
      getState: function () {
        return {
          'features/base/participants': participants,
          'features/base/connection': connectionState,
          'features/base/conference': conferenceState
        };
      }
    },
    conference: {
      _room: theRoom,
      isJoined: function () { return joined; },
      getMyUserId: function () { return myId; },
      // Sends the unavailable presence, waits for the room's answer (at most a few seconds), disconnects.
      hangup: function () {
        hungUp = true;
        return new Promise(function (resolve) {
          var done = function () {
            leaving = null;
            joined = false;
            members.clear();
            rebuild();
            shutdown();
            resolve();
          };
          if (!joined || !conn) {
            done();
            return;
          }
          leaving = done;
          conn.send($pres({ to: roomJid + '/' + myId, type: 'unavailable' }).tree());
          setTimeout(function () { if (leaving) { leaving(); } }, LEAVE_TIMEOUT_MS);
        });
      }
    }
  };

  // --- start ------------------------------------------------------------------------------------------
  render();
  if (!room) {
    conferenceState.error = error('conference.setupFailed', 'no room in the URL (open /<room>)');
    render();
    return;
  }
  if (typeof Strophe === 'undefined') {
    connectionState.error = error('connection.otherError', 'Strophe.js did not load (/libs/strophe/strophe.js)');
    render();
    return;
  }
  if (!config.websocket || !hosts.domain || !hosts.muc) {
    connectionState.error = error('connection.otherError', '/config.js sets no websocket URL or hosts');
    render();
    return;
  }
  var url = config.websocket + '?room=' + encodeURIComponent(room) + (jwt ? '&token=' + encodeURIComponent(jwt) : '');
  var loginDomain = !jwt && hosts.anonymousdomain ? hosts.anonymousdomain : hosts.domain;
  conn = new Strophe.Connection(url);
  conn.xmlInput = watchInput;
  conn.connect(loginDomain, null, onStatus);
})();

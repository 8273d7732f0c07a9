# A Godot 3 client of a Volley session, for crates/volley/tests/godot3.rs.
#
# Run: godot3-server --no-window -s client.gd, with
#   VOLLEY_TRANSPORT  "websocket" (WebSocketClient, gd_mp_api on) or "enet"
#                     (NetworkedMultiplayerENet)
#   VOLLEY_URL        ws://127.0.0.1:PORT/ (websocket)
#   VOLLEY_HOST, VOLLEY_PORT                (enet)
#   VOLLEY_PEERS      how many other clients to wait for
#
# Once it knows every other client it sends, with MultiplayerAPI.send_bytes:
# "all:ME" to everyone (0), "srv:ME" to the server (1), "but:ME:X" to all but
# X (the lowest other id), then "to:ME:P" to each other client P. When the
# server's "hello:ME" and every other client's "to:P:ME" are in, it reports to
# the server what it saw, as "report:ME|peers|from=text;from=text;...", and
# quits when the server says "bye" (or drops it).
extends SceneTree

var peer
var my_id = 0
var others = []
var expected_others = 0
var got = []
var sent = false
var reported = false
var deadline = 0

func _init():
	expected_others = int(OS.get_environment("VOLLEY_PEERS"))
	deadline = OS.get_ticks_msec() + 60000
	var transport = OS.get_environment("VOLLEY_TRANSPORT")
	var err = OK
	if transport == "websocket":
		peer = WebSocketClient.new()
		err = peer.connect_to_url(OS.get_environment("VOLLEY_URL"), PoolStringArray(), true)
	else:
		peer = NetworkedMultiplayerENet.new()
		err = peer.create_client(OS.get_environment("VOLLEY_HOST"), int(OS.get_environment("VOLLEY_PORT")))
	if err != OK:
		print("VOLLEY cannot connect: ", err)
		quit(2)
		return
	network_peer = peer
	connect("connected_to_server", self, "_on_connected")
	connect("connection_failed", self, "_on_failed")
	connect("server_disconnected", self, "_on_server_gone")
	connect("network_peer_connected", self, "_on_peer_connected")
	connect("network_peer_disconnected", self, "_on_peer_disconnected")
	multiplayer.connect("network_peer_packet", self, "_on_packet")

func _idle(_delta):
	if OS.get_ticks_msec() > deadline:
		print("VOLLEY timed out: id ", my_id, " others ", others, " got ", got)
		quit(3)
	return false

func _on_connected():
	my_id = get_network_unique_id()
	print("VOLLEY connected as ", my_id)
	_maybe_send()

func _on_failed():
	print("VOLLEY connection failed")
	quit(4)

func _on_server_gone():
	print("VOLLEY server gone")
	quit(0 if reported else 5)

func _on_peer_connected(id):
	if id != 1 and not others.has(id):
		others.append(id)
	_maybe_send()

func _on_peer_disconnected(id):
	print("VOLLEY peer left ", id)

func _send(text, to):
	multiplayer.send_bytes(text.to_utf8(), to)

func _maybe_send():
	if sent or my_id == 0 or others.size() < expected_others:
		return
	sent = true
	others.sort()
	_send("all:%d" % my_id, 0)
	_send("srv:%d" % my_id, 1)
	_send("but:%d:%d" % [my_id, others[0]], -others[0])
	for p in others:
		_send("to:%d:%d" % [my_id, p], p)

func _on_packet(id, packet):
	var text = packet.get_string_from_utf8()
	if id == 1 and text == "bye":
		print("VOLLEY bye")
		quit(0)
		return
	got.append("%d=%s" % [id, text])
	_maybe_report()

func _maybe_report():
	if reported or not sent:
		return
	if not got.has("1=hello:%d" % my_id):
		return
	for p in others:
		if not got.has("%d=to:%d:%d" % [p, p, my_id]):
			return
	reported = true
	var report = "report:%d|%s|%s" % [my_id, PoolStringArray(others).join(","), PoolStringArray(got).join(";")]
	_send(report, 1)
	print("VOLLEY reported")

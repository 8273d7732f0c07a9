# A Godot 3 WebSocket server (WebSocketServer, gd_mp_api on) for Volley
# clients, for crates/volley/tests/godot3.rs.
#
# Run: godot3-server --no-window -s server.gd, with
#   VOLLEY_PORT   the TCP port to listen on
#   VOLLEY_PEERS  how many clients to wait for
#
# Once every client is in it sends each "hello:ID"; it answers every packet
# a client sends it with "echo:TEXT" to that client; when every client has
# sent "done" it prints what it got and quits, closing every connection.
extends SceneTree

var server
var clients = []
var expected = 0
var greeted = false
var done = []
var got = []
var deadline = 0

func _init():
	expected = int(OS.get_environment("VOLLEY_PEERS"))
	deadline = OS.get_ticks_msec() + 60000
	server = WebSocketServer.new()
	var err = server.listen(int(OS.get_environment("VOLLEY_PORT")), PoolStringArray(), true)
	if err != OK:
		print("VOLLEY cannot listen: ", err)
		quit(2)
		return
	network_peer = server
	connect("network_peer_connected", self, "_on_peer_connected")
	connect("network_peer_disconnected", self, "_on_peer_disconnected")
	multiplayer.connect("network_peer_packet", self, "_on_packet")
	print("VOLLEY listening")

func _idle(_delta):
	if OS.get_ticks_msec() > deadline:
		print("VOLLEY timed out: clients ", clients, " got ", got)
		quit(3)
	return false

func _on_peer_connected(id):
	clients.append(id)
	print("VOLLEY client ", id)
	if clients.size() == expected and not greeted:
		greeted = true
		for c in clients:
			multiplayer.send_bytes(("hello:%d" % c).to_utf8(), c)

func _on_peer_disconnected(id):
	print("VOLLEY client left ", id)

func _on_packet(id, packet):
	var text = packet.get_string_from_utf8()
	got.append("%d=%s" % [id, text])
	if text == "done":
		done.append(id)
		if done.size() == expected:
			print("VOLLEY got ", PoolStringArray(got).join(";"))
			server.stop()
			quit(0)
		return
	multiplayer.send_bytes(("echo:" + text).to_utf8(), id)

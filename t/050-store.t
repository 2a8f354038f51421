# Storage and audit (SPEC §9, §10): what the SQLite store holds after the
# user API has run, read with the sqlite3 command and by scanning the files
# under the server root.
#
# Conventions of this file:
#   - nginx runs with a master and two workers (every worker has its own
#     store connection); every block starts on an empty store in
#     logs/byok.db (logs/ is emptied before each block), so key ids count
#     from 1;
#   - "--- setup" lines are requests sent, in order, before the block's own
#     request: "USER METHOD PATH [JSON BODY]"; a setup request that does not
#     succeed fails the block;
#   - "--- sql_init" statements run with the sqlite3 command once nginx has
#     started, after the setup requests;
#   - after the block's last request, each statement of "--- sql" runs with
#     the sqlite3 command and the output of all of them must be
#     "--- sql_output"; an error prints as "error: MESSAGE";
#   - after the block's last request, no file under the server root (store,
#     WAL, logs, configuration, temporary files) may contain any line of
#     "--- files_lack";
#   - "--- user" names the caller of the block's request(s) (default alice);
#     each request carries an HS256 bearer token for that user;
#   - in response bodies, a timestamp within five minutes of now reads
#     "<now>".

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use File::Find ();
use File::Temp ();
use HTTP::Tiny;
use MIME::Base64 qw(encode_base64 encode_base64url);
use Time::Local qw(timegm);

$ENV{AGENTS_MASTER_KEY} =
    'c0ffee00c0ffee11c0ffee22c0ffee33c0ffee44c0ffee55c0ffee66c0ffee77';
$ENV{AGENTS_JWT_SECRET} = 'store-suite-jwt-secret-0123456789abcdef';

sub bearer {
    my ($sub) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}',
                                     $sub, time + 3600);
    my $s = encode_base64url(hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
    return "$h.$p.$s";
}

my @Setups;

sub run_setup {
    my ($n) = @_;
    my $http = HTTP::Tiny->new(timeout => 10);

    my ($requests, $sql) = @{ $Setups[$n] };

    for my $line (split /\n/, $requests) {
        next if $line !~ /\S/;
        my ($user, $method, $path, $json) = split ' ', $line, 4;
        my $res = $http->request($method,
            'http://' . server_addr() . ':' . server_port() . $path,
            { headers => { 'Authorization' => 'Bearer ' . bearer($user),
                           'Content-Type'  => 'application/json' },
              defined $json ? (content => $json) : () });
        Test::More::fail("setup \"$line\": $res->{status} $res->{content}")
            if !$res->{success};
    }

    if (defined $sql) {
        my $out = run_sql($sql);
        Test::More::fail("sql_init: $out") if $out ne '';
    }
}

sub mask_now {
    my ($body) = @_;
    $body =~ s{"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z"}{
        abs(timegm($6, $5, $4, $3, $2 - 1, $1) - time) < 300 ? '"<now>"' : $&
    }ge;
    return $body;
}

sub key_ids {
    my ($body) = @_;
    my @ids = $body =~ /"id":(\d+)/g;
    return join(' ', sort { $a <=> $b } @ids) . "\n";
}

sub run_sql {
    my ($sql) = @_;
    my $db = server_root() . '/logs/byok.db';
    my $out = '';

    for my $stmt (grep { /\S/ } split /;[ \t]*\n/, $sql) {
        my $tmp = File::Temp->new;
        print $tmp "$stmt;\n";
        close $tmp;

        my $res = `sqlite3 -cmd '.timeout 5000' $db < $tmp 2>&1`;
        $res =~ s/^(?:Runtime |Parse )?[Ee]rror(?: near line \d+)?:\s*(?:stepping, )?(.*?)(?: \(\d+\))?$/error: $1/mg;
        $out .= $res;
    }

    return $out;
}

sub files_containing {
    my ($needle) = @_;
    my @found;

    File::Find::find({ no_chdir => 1, wanted => sub {
        return if !-f $_;
        open my $in, '<:raw', $_ or return;
        my $data = do { local $/; <$in> };
        push @found, $File::Find::name if index($data, $needle) >= 0;
    } }, server_root());

    return join ' ', sort @found;
}

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $last = ref $block->request ? $#{ $block->request } : 0;
    my $name = $block->name;

    return if $dry_run || $req_idx != $last;

    if (defined $block->sql) {
        Test::More::is(run_sql($block->sql), $block->sql_output,
                       "$name - sql output");
    }

    for my $needle (split /\n/, $block->files_lack // '') {
        Test::More::is(files_containing($needle), '',
                       "$name - no file holds \"$needle\"");
    }
});

master_on();
workers(2);
worker_connections(1024);
no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config',
                      "load_module \$TEST_NGINX_BYOK_MODULE;\n"
                      . ($block->main_config // ''));

    $block->set_value('http_config',
                      "    byok_store logs/byok.db;\n"
                      . ($block->http_config // ''));

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location /me/provider-keys {
        byok_api;
    }

    location = /catalog {
        byok_catalog_api;
    }

    location /oauth/ {
        byok_oauth;
    }
_EOC_
    }

    my $user = $block->user // 'alice';
    my $more = $block->more_headers // '';
    my $n = ref $user ? @$user : ref $more ? @$more : 1;
    my @headers = map {
        "Authorization: Bearer " . bearer(ref $user ? $user->[$_] : $user)
        . "\n" . (ref $more ? $more->[$_] : $more)
    } 0 .. $n - 1;
    $block->set_value('more_headers',
                      ref $user || ref $more ? \@headers : $headers[0]);

    if (defined $block->setup || defined $block->sql_init) {
        push @Setups, [$block->setup // '', $block->sql_init];
        $block->set_value('init', "main::run_setup($#Setups)");
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', \&mask_now);
    }

    if (!defined $block->no_error_log && !defined $block->error_log) {
        $block->set_value('no_error_log', "[error]\n[crit]\n[alert]\n");
    }
});

run_tests();

__DATA__

=== TEST 1: a key is stored sealed: version 1, its master key id, nonce, ciphertext and tag; no file holds the value
The blob is 1 + 4 + 12 + 38 + 16 bytes for this 38-byte value.  Neither
the value, its part after the masked prefix, nor its hex or base64 form is
in the store, its WAL, the logs or any other file of the server root.
--- more_headers
Content-Type: application/json
--- request
POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-canary-7f3a9c1e5b2d4086-CANARY-0001"}
--- error_code: 201
--- response_body
{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-canar***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
--- sql
SELECT id, hex(substr(sealed, 1, 1)), length(sealed), masked FROM provider_keys;
SELECT printf('%08X', master_key_id) = hex(substr(sealed, 2, 4)) FROM provider_keys;
--- sql_output
1|01|71|sk-canar***
1
--- files_lack eval
my $v = 'sk-canary-7f3a9c1e5b2d4086-CANARY-0001';
"$v\n" . substr($v, 8) . "\n" . unpack('H*', $v) . "\n"
    . MIME::Base64::encode_base64($v, '')



=== TEST 2: the same value stored twice gives two different blobs (a fresh nonce per seal)
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-canary-7f3a9c1e5b2d4086-CANARY-0001"}
--- more_headers
Content-Type: application/json
--- request
POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-canary-7f3a9c1e5b2d4086-CANARY-0001"}
--- error_code: 201
--- response_body
{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-canar***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
--- sql
SELECT count(*), count(DISTINCT sealed), count(DISTINCT substr(sealed, 6, 12)) FROM provider_keys;
--- sql_output
2|2|2



=== TEST 3: revoking erases the sealed value and keeps the row with its masked prefix
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-canary-7f3a9c1e5b2d4086-CANARY-0001"}
--- request
DELETE /me/provider-keys/1
--- response_body
{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-canar***","rotation_priority":0,"rentable":false,"status":"revoked","created_at":"<now>","updated_at":"<now>","revoked_at":"<now>","last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
--- sql
SELECT id, label, masked, status, sealed IS NULL, master_key_id IS NULL, revoked_at IS NOT NULL FROM provider_keys;
--- sql_output
1|main|sk-canar***|revoked|1|1|1



=== TEST 4: every mutation writes one audit row: time, actor, actor kind, action, user, key id, provider, address, outcome
Reads write no audit row; the order row names the provider, not one key.
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-1-audit-key-00000001"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-2-audit-key-00000002"}
alice GET /me/provider-keys
alice PATCH /me/provider-keys/1 {"label":"main"}
alice PUT /me/provider-keys/order {"provider":"anthropic","ids":[1,2]}
alice GET /me/provider-keys/1
--- request
DELETE /me/provider-keys/2
--- response_body
{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-2***","rotation_priority":1,"rentable":false,"status":"revoked","created_at":"<now>","updated_at":"<now>","revoked_at":"<now>","last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
--- sql
SELECT action, actor, actor_kind, user_id, ifnull(key_id, '-'), ifnull(provider, '-'), remote_addr, outcome FROM audit_log ORDER BY id;
SELECT count(*) FROM audit_log WHERE abs(at - strftime('%s', 'now')) > 300;
--- sql_output
key.create|alice|user|alice|1|anthropic|127.0.0.1|ok
key.create|alice|user|alice|2|anthropic|127.0.0.1|ok
key.update|alice|user|alice|1|anthropic|127.0.0.1|ok
key.order|alice|user|alice|-|anthropic|127.0.0.1|ok
key.revoke|alice|user|alice|2|anthropic|127.0.0.1|ok
0



=== TEST 5: a refused change (another user's key, a validation error) writes no audit row
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-1-audit-key-00000001"}
--- user eval
["bob", "bob", "alice"]
--- more_headers
Content-Type: application/json
--- request eval
["DELETE /me/provider-keys/1",
 'PATCH /me/provider-keys/1
{"label":"mine"}',
 'PATCH /me/provider-keys/1
{"rotation_priority":-1}']
--- error_code eval
[404, 404, 422]
--- response_body eval
[q{{"error":"not_found","message":"No such key."}
}, q{{"error":"not_found","message":"No such key."}
}, q{{"error":"validation_failed","message":"rotation_priority must be an integer from 0 to 1000000.","field":"rotation_priority"}
}]
--- sql
SELECT action, actor, ifnull(key_id, '-') FROM audit_log ORDER BY id;
--- sql_output
key.create|alice|1



=== TEST 6: the audit log refuses UPDATE and DELETE (triggers), even for the store's owner
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-1-audit-key-00000001"}
--- request
GET /me/provider-keys
--- response_body
{"keys":[{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}
--- sql
UPDATE audit_log SET outcome = 'forged';
DELETE FROM audit_log;
DELETE FROM audit_log WHERE action = 'key.create';
SELECT count(*), action, outcome FROM audit_log;
--- sql_output
error: audit_log is append-only
error: audit_log is append-only
error: audit_log is append-only
1|key.create|ok



=== TEST 7: the store runs in WAL mode with a schema version
--- request
GET /me/provider-keys
--- response_body
{"keys":[]}
--- sql
PRAGMA journal_mode;
SELECT user_version >= 1 FROM pragma_user_version;
--- sql_output
wal
1



=== TEST 8: when the audit row cannot be written the change fails with 503 and nothing is written
A trigger added behind nginx's back makes every audit insert fail.
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-1-audit-key-00000001"}
--- sql_init
CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit store full'); END;
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-oai-1-audit-key-00000002"}',
'PATCH /me/provider-keys/1
{"label":"renamed"}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1]}',
"DELETE /me/provider-keys/1"]
--- error_code eval
[503, 503, 503, 503]
--- response_body eval
[q{{"error":"store_unavailable","message":"The key store is unavailable; nothing was changed. Try again later."}
}, q{{"error":"store_unavailable","message":"The key store is unavailable; nothing was changed. Try again later."}
}, q{{"error":"store_unavailable","message":"The key store is unavailable; nothing was changed. Try again later."}
}, q{{"error":"store_unavailable","message":"The key store is unavailable; nothing was changed. Try again later."}
}]
--- sql
SELECT id, provider, label, rotation_priority, sealed IS NOT NULL, revoked_at IS NULL FROM provider_keys;
SELECT count(*) FROM audit_log;
--- sql_output
1|anthropic|main|0|1|1
1
--- error_log
audit store full
--- no_error_log
[crit]
[alert]



=== TEST 9: two workers writing at once lose no key: 40 concurrent creates, all listed, none refused
POST /fan-out creates one key and mirrors the same request 39 times.  All
of them go to a second server whose listening socket has reuseport, so the
kernel spreads their connections over both workers.  The response comes
when all of them are done.
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 reuseport;

        location /me/provider-keys {
            byok_api;
        }
    }
--- config eval
'    location /me/provider-keys {
        byok_api;
    }

    location = /fan-out {
' . ("        mirror /create;\n" x 39) . '        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/me/provider-keys;
    }

    location = /create {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/me/provider-keys;
    }
'
--- more_headers
Content-Type: application/json
--- request eval
['POST /fan-out
{"category":"llm","provider":"anthropic","value":"sk-ant-concurrent-key-0001"}',
"GET /me/provider-keys"]
--- response_body_filters eval
\&main::key_ids
--- error_code eval
[201, 200]
--- response_body eval
[qr/^([1-9]|[1-3][0-9]|40)\n\z/, "@{[1 .. 40]}\n"]
--- sql
SELECT count(*), count(DISTINCT id), max(id) FROM provider_keys;
SELECT count(*) FROM audit_log WHERE action = 'key.create';
--- sql_output
40|40|40
40
--- no_error_log
[error]
[crit]
[alert]
--- no_access_log
" 503 

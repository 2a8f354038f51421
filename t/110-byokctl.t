# byokctl, the offline operations tool (README "Operations"): init, verify,
# rewrap, backup and restore, stats.
#
# A plain Test::More script, not a Test::Nginx suite: byokctl needs no
# nginx.  nginx is started here only to put keys into the store through the
# user API, so that the store holds values sealed exactly as the module
# seals them, and to show that the store byokctl leaves behind serves them.
#
# Environment: BYOKCTL (default build/byokctl), TEST_NGINX_BYOK_MODULE
# (default build/ngx_http_byok_module.so), TEST_NGINX_BINARY (default nginx).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use File::Copy qw(copy);
use File::Spec ();
use File::Temp qw(tempdir);
use HTTP::Tiny ();
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64 encode_base64url);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

my $byokctl = File::Spec->rel2abs($ENV{BYOKCTL} || 'build/byokctl');
my $module  = File::Spec->rel2abs($ENV{TEST_NGINX_BYOK_MODULE}
                                  || 'build/ngx_http_byok_module.so');
my $nginx   = $ENV{TEST_NGINX_BINARY} || 'nginx';

-x $byokctl or die "$byokctl is not built: run \"make byokctl\"\n";
-f $module or die "$module is not built: run \"make\"\n";

my $dir   = tempdir('byokctl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $store = "$dir/store/byok.db";
my $json  = JSON::PP->new->canonical;

mkdir "$dir/store" or die;
mkdir "$dir/nginx" or die;
mkdir "$dir/nginx/logs" or die;
mkdir "$dir/nginx/conf" or die;

# The old master key A (hex, in a file and in the environment), the new
# key B (base64, in a file), a key the store has never seen.
my $key_a = '6b1d9e2f4a7c0b3e8d5f1a6c9e2b7d4f0a3c6e9b2d5f8a1c4e7b0d3f6a9c2e5b';
my $raw_b = pack 'H*',
    '0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0';
my $key_b = encode_base64($raw_b, '');
my $key_w = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';

write_file("$dir/a.key", "$key_a\n");
write_file("$dir/b.key", "$key_b\n");
write_file("$dir/w.key", "$key_w\n");
write_file("$dir/short.key", substr($key_a, 1) . "\n");

$ENV{BYOKCTL_TEST_KEY_A} = $key_a;
$ENV{AGENTS_JWT_SECRET} = 'byokctl-suite-jwt-secret-0123456789abcdef';

my $id_a = master_key_id(pack 'H*', $key_a);
my $id_b = master_key_id($raw_b);

my $port = free_port();
my $http = HTTP::Tiny->new(timeout => 10);

# the story keys; bulk keys are added for the interrupted rewrap
my @keys = (
    { user => 'alice', provider => 'anthropic', category => 'llm',
      value => 'sk-ant-api03-alice-first-00000001' },
    { user => 'alice', provider => 'anthropic', category => 'llm',
      value => 'sk-ant-api03-alice-second-0000002' },
    { user => 'alice', provider => 'openai', category => 'llm',
      value => 'sk-proj-alice-openai-000000000003' },
    { user => 'bob', provider => 'groq', category => 'llm',
      value => 'gsk_bob_groq_000000000000000000004' },
    { user => 'bob', provider => 'elevenlabs', category => 'audio',
      value => 'xi-bob-elevenlabs-0000000000000005' },
);


subtest 'usage errors exit with status 2 and name the problem' => sub {
    my ($rc, $out, $err) = byokctl();
    is($rc, 2, 'no command');
    like($err, qr/^usage: byokctl COMMAND/m, 'usage is printed');

    ($rc, $out, $err) = byokctl('frobnicate', '--store', $store);
    is($rc, 2, 'unknown command');
    like($err, qr/unknown command "frobnicate"/, 'names the command');

    ($rc, $out, $err) = byokctl('verify', '--store', $store);
    is($rc, 2, 'verify without --master-key');
    like($err, qr/verify: missing --master-key/, 'names the option');

    ($rc, $out, $err) = byokctl('stats', '--store', $store, '--batch', 5);
    is($rc, 2, 'an option the command does not take');
    like($err, qr/stats: unknown option "--batch"/, 'names the option');

    ($rc, $out, $err) = byokctl('rewrap', '--store', $store,
                                '--master-key', "file:$dir/a.key",
                                '--batch', 0);
    is($rc, 2, '--batch 0');
    like($err, qr/--batch must be 1-10000/, 'states the range');

    ($rc, $out, $err) = byokctl('help');
    is($rc, 0, 'help exits 0');
    like($out, qr/^  rewrap  --store PATH --master-key SRC/m, 'help on stdout');
};


subtest 'init migrates a schema 1 store to 2, keeping its rows' => sub {
    my $old = "$dir/schema1.db";
    my ($rc, $out, $err) = byokctl('init', '--store', $old);
    is($rc, 0, 'created') or diag $err;

    # schema 1 as the first release left it: the selection index ascending
    sql($old, "DROP INDEX provider_keys_selection;"
              . " CREATE INDEX provider_keys_selection ON provider_keys"
              . " (user_id, provider, rotation_priority, created_at);"
              . " INSERT INTO provider_keys (user_id, category, provider,"
              . " masked, sealed, master_key_id, created_at, updated_at)"
              . " VALUES ('u1', 'llm', 'openai', 'sk-p***', x'00', 1, 1, 1);"
              . " PRAGMA user_version = 1;");

    ($rc, $out, $err) = byokctl('init', '--store', $old);
    is($rc, 0, 'exit status 0') or diag $err;
    is($out, qq{store "$old": schema 1 migrated to 2\n}, 'says so');
    is(sql($old, 'PRAGMA user_version'), "2\n", 'schema version 2');
    like(sql($old, "SELECT sql FROM sqlite_master"
                   . " WHERE name = 'provider_keys_selection'"),
         qr/rotation_priority, created_at DESC, id DESC\)/,
         'the selection index is in the lookup order');
    is(sql($old, "SELECT user_id, provider, masked FROM provider_keys"),
       "u1|openai|sk-p***\n", 'the row is kept');
    unlike(sql($old, "EXPLAIN QUERY PLAN SELECT id FROM provider_keys"
                     . " WHERE user_id = 'u1' AND provider = 'openai'"
                     . " AND revoked_at IS NULL AND sealed IS NOT NULL"
                     . " ORDER BY rotation_priority, created_at DESC, id DESC"),
           qr/TEMP B-TREE/, 'the lookup reads the index in order, no sort');

    ($rc, $out, $err) = byokctl('init', '--store', $old);
    is($out, qq{store "$old": schema is current\n}, 'a second init: current');
};


subtest 'a missing store is an error, not a new empty store' => sub {
    my ($rc, $out, $err) = byokctl('stats', '--store', "$dir/typo.db");
    is($rc, 1, 'exit status 1');
    like($err, qr/store "\Q$dir\E\/typo\.db": No such file or directory/,
         'says so');
    ok(!-e "$dir/typo.db", 'nothing was created');
};


subtest 'init creates the store and records the master key check value' => sub {
    my ($rc, $out, $err) = byokctl('init', '--store', $store,
                                   '--master-key', "file:$dir/a.key");
    is($rc, 0, 'exit status 0') or diag $err;
    is($out, qq{store "$store": created\n}
             . "master key $id_a (current): check value ok\n",
       'reports the store and the key id (HKDF "byok/key-id/v1")');
    is(sprintf('%04o', (stat $store)[2] & 07777), '0600',
       'the new store is readable by its owner only');
    is(sql($store, 'PRAGMA user_version'), "2\n", 'schema version 2');
    is(sql($store, "SELECT name FROM meta"), "master_check:$id_a\n",
       'the check value is stored under the key id');

    ($rc, $out, $err) = byokctl('init', '--store', $store,
                                '--master-key', 'env:BYOKCTL_TEST_KEY_A');
    is($rc, 0, 'init again, the same key from the environment');
    like($out, qr/^store "\Q$store\E": schema is current$/m,
         'the existing store is kept');
};


subtest 'master key sources: bad ones are refused without quoting the key' => sub {
    my ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                   '--master-key', "file:$dir/short.key");
    is($rc, 1, 'a key of 63 hex digits');
    is($err, "byokctl: --master-key file:$dir/short.key: must be 32 bytes "
             . "as 64 hex characters or base64\n", 'the reason');
    unlike($err, qr/\Q${\ substr($key_a, 1, 16)}\E/, 'the key is not printed');

    ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                '--master-key', 'env:BYOKCTL_TEST_UNSET');
    is($rc, 1, 'an unset variable');
    like($err, qr/env:BYOKCTL_TEST_UNSET: the variable is not set/,
         'the reason');

    ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                '--master-key', "file:$dir/none.key");
    is($rc, 1, 'a missing file');
    like($err, qr/No such file or directory/, 'the reason');

    ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                '--master-key', $key_a);
    is($rc, 1, 'a key given on the command line itself');
    like($err, qr/must be env:NAME or file:PATH/, 'the reason');

    ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                '--master-key', "file:$dir/a.key",
                                '--previous', 'env:BYOKCTL_TEST_KEY_A');
    is($rc, 1, 'the same key twice');
    like($err, qr/is the same key as another given master key/, 'the reason');
};


start_nginx('a');

subtest 'keys added through the user API' => sub {
    for my $i (0 .. $#keys) {
        my $k = $keys[$i];
        my $res = api($k->{user}, 'POST', '/me/provider-keys',
                      { category => $k->{category},
                        provider => $k->{provider},
                        value => $k->{value} });
        is($res->{status}, 201, "key " . ($i + 1) . " created");
        $k->{id} = $json->decode($res->{content})->{id};
    }

    my $res = api('alice', 'DELETE', "/me/provider-keys/$keys[1]{id}");
    is($res->{status}, 200, "alice's second anthropic key revoked");
    $keys[1]{revoked} = 1;

    is(lookup('alice', 'anthropic'), $keys[0]{value},
       'lookup hands out the remaining anthropic key');
};

my @sealed = grep { !$_->{revoked} } @keys;

subtest 'stats: keys by provider and status, store size, audit rows' => sub {
    my ($rc, $out, $err) = byokctl('stats', '--store', $store);
    is($rc, 0, 'exit status 0') or diag $err;

    my $stats = eval { $json->decode($out) } || {};
    is_deeply($stats->{keys}, [
        { provider => 'anthropic', status => 'active', count => 1 },
        { provider => 'anthropic', status => 'revoked', count => 1 },
        { provider => 'elevenlabs', status => 'active', count => 1 },
        { provider => 'groq', status => 'active', count => 1 },
        { provider => 'openai', status => 'active', count => 1 },
    ], 'keys by provider and status');
    is($stats->{store}{audit_rows}, 6, 'five creates and a revoke');
    cmp_ok($stats->{store}{bytes}, '>', 0, 'store bytes');
    is_deeply($stats->{store}{master_key_ids}, [$id_a],
              'every sealed value is under key A');
};

subtest 'verify: a good store' => sub {
    my ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                   '--master-key', "file:$dir/a.key");
    is($rc, 0, 'exit status 0') or diag $out, $err;
    is($out, "integrity_check: ok\n"
             . "master key $id_a (current): check value ok\n"
             . "sealed values: 4, open: 4 (current key: 4, previous keys: "
             . "0), do not open: 0\n"
             . "verify: ok\n", 'the report');
    is($err, '', 'nothing on stderr');

    my $all = join '', $out, $err;
    unlike($all, qr/\Q$_->{value}\E/, 'no plaintext key in the output')
        for @keys;
};

subtest 'verify: values sealed under a key that was not given' => sub {
    my ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                   '--master-key', "file:$dir/b.key");
    is($rc, 1, 'exit status 1');
    like($out, qr/^master key $id_a: values are sealed under it, but it was /m,
         'names the missing key');
    like($out, qr/^key $sealed[0]{id} \(user "alice", provider "anthropic", master key $id_a\): does not open: no given master key has its id$/m,
         'names each value');
    like($out, qr/^sealed values: 4, open: 0 .* do not open: 4$/m, 'counts');
    like($out, qr/^verify: FAILED \(5 problems\)$/m, 'verdict');
};

subtest 'verify: a check value that does not match the key' => sub {
    my $copy = "$dir/checked.db";
    backup($store, $copy);
    sql($copy, "UPDATE meta SET value = zeroblob(32)"
               . " WHERE name = 'master_check:$id_a'");

    my ($rc, $out, $err) = byokctl('verify', '--store', $copy,
                                   '--master-key', "file:$dir/a.key");
    is($rc, 1, 'exit status 1');
    is($err, "byokctl: --master-key: key $id_a does not match the check "
             . "value stored for it\n", 'the reason');
    like($out, qr/^verify: FAILED \(1 problem\)$/m, 'verdict');
};

subtest 'backup: an online copy of the live store' => sub {
    my ($rc, $out, $err) = byokctl('backup', '--store', $store,
                                   '--to', "$dir/backup.db");
    is($rc, 0, 'exit status 0') or diag $err;
    like($out, qr/^backup "\Q$dir\E\/backup\.db": \d+ bytes$/, 'reported');
    is(sprintf('%04o', (stat "$dir/backup.db")[2] & 07777), '0600',
       'the backup is readable by its owner only');

    ($rc, $out, $err) = byokctl('backup', '--store', $store,
                                '--to', "$dir/backup.db");
    is($rc, 1, 'an existing file is not overwritten');
    like($err, qr/backup: "\Q$dir\E\/backup\.db" exists/, 'the reason');

    ($rc, $out, $err) = byokctl('verify', '--store', "$dir/backup.db",
                                '--master-key', "file:$dir/a.key");
    is($rc, 0, 'the backup verifies') or diag $out;
    like($out, qr/^sealed values: 4, open: 4 /m, 'with every value');
};

subtest 'verify names every value that was altered or moved' => sub {
    my $id = $keys[0]{id};

    # one byte of alice's ciphertext flipped
    my $hex = sql($store, "SELECT hex(sealed) FROM provider_keys"
                          . " WHERE id = $id");
    chomp $hex;
    substr($hex, 40, 2) = sprintf '%02X', hex(substr($hex, 40, 2)) ^ 0x01;
    sql($store, "UPDATE provider_keys SET sealed = X'$hex' WHERE id = $id");

    # bob's groq value replaced by a copy of bob's elevenlabs value
    sql($store, "UPDATE provider_keys SET sealed = (SELECT sealed FROM"
                . " provider_keys WHERE id = $keys[4]{id})"
                . " WHERE id = $keys[3]{id}");

    my ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                   '--master-key', "file:$dir/a.key");
    is($rc, 1, 'exit status 1');
    like($out, qr/^key $id \(user "alice", provider "anthropic", master key $id_a\): does not open: authentication failed/m,
         "names alice's altered key $id");
    like($out, qr/^key $keys[3]{id} \(user "bob", provider "groq", master key $id_a\): does not open: authentication failed/m,
         "names bob's key $keys[3]{id} holding another row's value");
    like($out, qr/^sealed values: 4, open: 2 .* do not open: 2$/m, 'counts');
    like($out, qr/^verify: FAILED \(2 problems\)$/m, 'verdict');
};

subtest 'rewrap leaves values that do not open behind, moves the others' => sub {
    my $copy = "$dir/tampered.db";
    backup($store, $copy);

    # --batch 1: the bad rows come first and must not stall the run
    my ($rc, $out, $err) = byokctl('rewrap', '--store', $copy,
                                   '--master-key', "file:$dir/b.key",
                                   '--previous', "file:$dir/a.key",
                                   '--batch', 1);
    is($rc, 1, 'exit status 1');
    is($out, qq|{"rewrapped":2,"skipped":0,"failed":2,"remaining":2,|
             . qq|"master_key_id":"$id_b"}\n|, 'counts, each value once');
    like($err, qr/2 sealed values do not open with any given master key/,
         'says so');

    ($rc, $out, $err) = byokctl('verify', '--store', $copy,
                                '--master-key', "file:$dir/b.key",
                                '--previous', "file:$dir/a.key");
    like($out, qr/^sealed values: 4, open: 2 \(current key: 2, previous keys: 0\), do not open: 2$/m,
         'the good values are under B, the bad ones stay');
};

stop_nginx();

subtest 'restore: the backup copied back serves every key again' => sub {
    unlink $store, "$store-wal", "$store-shm";
    copy("$dir/backup.db", $store) or die "copy: $!";

    my ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                   '--master-key', "file:$dir/a.key");
    is($rc, 0, 'the restored store verifies') or diag $out;

    start_nginx('a');
    is(lookup('alice', 'anthropic'), $keys[0]{value}, 'alice anthropic');
    is(lookup('bob', 'groq'), $keys[3]{value}, 'bob groq');
};

# more values, so that a rewrap can be interrupted half way
for my $i (1 .. 40) {
    my $k = { user => sprintf('bulk%02d', $i), provider => 'anthropic',
              category => 'llm',
              value => sprintf('sk-ant-api03-bulk-%02d-000000000000', $i) };
    my $res = api($k->{user}, 'POST', '/me/provider-keys',
                  { map { $_ => $k->{$_} } qw(category provider value) });
    $res->{status} == 201 or die "bulk create: $res->{status}\n";
    $k->{id} = $json->decode($res->{content})->{id};
    push @keys, $k;
    push @sealed, $k;
}

my $nsealed = @sealed;

stop_nginx();

# the rotation: nginx runs with B as its key and A as the previous key
start_nginx('b', 'a');

subtest 'rewrap killed after a batch, then run again' => sub {
    # The run is stopped at a known point: byokctl reports progress on
    # stderr after each batch, and its stderr is a pipe filled beforehand,
    # so it blocks in that report right after committing its first batch.
    pipe(my $r, my $w) or die "pipe: $!";
    my $flags = fcntl($w, F_GETFL, 0);
    fcntl($w, F_SETFL, $flags | O_NONBLOCK) or die;
    for my $chunk (4096, 1) {
        1 while defined syswrite($w, 'x' x $chunk);
    }
    fcntl($w, F_SETFL, $flags) or die;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        open STDERR, '>&', $w or die;
        open STDOUT, '>', '/dev/null' or die;
        exec $byokctl, 'rewrap', '--store', $store,
             '--master-key', "file:$dir/b.key",
             '--previous', "file:$dir/a.key", '--batch', 5;
        die "exec: $!";
    }
    close $w;

    my $under_b = sub {
        my $n = sql($store, "SELECT count(*) FROM provider_keys"
                            . " WHERE master_key_id = " . hex($id_b));
        chomp $n;
        return $n;
    };

    my $moved = 0;
    for (1 .. 100) {
        $moved = $under_b->();
        last if $moved >= 5;
        sleep 0.05;
    }
    sleep 0.3;
    kill 'KILL', $pid;
    waitpid $pid, 0;
    close $r;

    is($under_b->(), 5, 'killed with exactly the first batch of 5 done');

    my ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                   '--master-key', "file:$dir/b.key",
                                   '--previous', "file:$dir/a.key");
    is($rc, 0, 'the store verifies half way') or diag $out;
    like($out, qr/^integrity_check: ok$/m, 'integrity_check');
    like($out, qr/^sealed values: $nsealed, open: $nsealed \(current key: 5, previous keys: ${\($nsealed - 5)}\), do not open: 0$/m,
         '5 values under B, the others under A');

    is(lookup('alice', 'anthropic'), $keys[0]{value},
       'nginx opens a value still under A');
    is(lookup('bulk01', 'anthropic'), $keys[5]{value},
       'and one already under B');

    ($rc, $out, $err) = byokctl('rewrap', '--store', $store,
                                '--master-key', "file:$dir/b.key",
                                '--previous', "file:$dir/a.key",
                                '--batch', 7);
    is($rc, 0, 'the second run succeeds') or diag $err;
    is($out, sprintf(qq|{"rewrapped":%d,"skipped":0,"failed":0,|
                     . qq|"remaining":0,"master_key_id":"%s"}\n|,
                     $nsealed - 5, $id_b),
       'and moves the rest');

    is(sql($store, "SELECT count(*), count(DISTINCT key_id),"
                   . " min(actor || '/' || actor_kind),"
                   . " max(actor || '/' || actor_kind)"
                   . " FROM audit_log WHERE action = 'key.rewrap'"),
       "$nsealed|$nsealed|byokctl/admin|byokctl/admin\n",
       'one audit row per value, by byokctl as an admin');

    ($rc, $out, $err) = byokctl('rewrap', '--store', $store,
                                '--master-key', "file:$dir/b.key",
                                '--previous', "file:$dir/a.key");
    is($out, qq|{"rewrapped":0,"skipped":0,"failed":0,"remaining":0,|
             . qq|"master_key_id":"$id_b"}\n|, 'a third run has nothing to do');
};

subtest 'after the rewrap only key B is needed' => sub {
    my ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                   '--master-key', "file:$dir/b.key");
    is($rc, 0, 'verify with B alone') or diag $out;
    like($out, qr/^sealed values: $nsealed, open: $nsealed \(current key: $nsealed, previous keys: 0\)/m,
         'every value under B');

    ($rc, $out, $err) = byokctl('verify', '--store', $store,
                                '--master-key', "file:$dir/a.key");
    is($rc, 1, 'verify with A alone fails');

    ($rc, $out, $err) = byokctl('stats', '--store', $store);
    is_deeply($json->decode($out)->{store}{master_key_ids}, [$id_b],
              'stats: only B is in use');

    stop_nginx();
    start_nginx('b');

    for my $k (@sealed[0 .. 4], $sealed[-1]) {
        is(lookup($k->{user}, $k->{provider}), $k->{value},
           "nginx with B alone: $k->{user} $k->{provider}");
    }

    my $audit = sql($store, 'SELECT * FROM audit_log');
    unlike($audit, qr/\Q$_->{value}\E/, 'no key in the audit log')
        for @keys;
};

stop_nginx();

done_testing();


sub byokctl {
    my @args = @_;

    my ($out, $err) = ("$dir/ctl.out", "$dir/ctl.err");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $out or die;
        open STDERR, '>', $err or die;
        exec $byokctl, @args;
        die "exec: $!";
    }
    waitpid $pid, 0;
    my $rc = $? >> 8;

    return ($rc, read_file($out), read_file($err));
}


sub backup {
    my ($from, $to) = @_;
    unlink $to;
    my ($rc, $out, $err) = byokctl('backup', '--store', $from, '--to', $to);
    $rc == 0 or die "backup: $err";
}


sub sql {
    my ($db, $statement) = @_;

    open my $fh, '-|', 'sqlite3', '-cmd', '.timeout 5000', $db, $statement
        or die "sqlite3: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh or die "sqlite3 \"$statement\" failed\n";

    return $out;
}


# HKDF-SHA256 without salt, info "byok/key-id/v1": the first 4 bytes
sub master_key_id {
    my ($raw) = @_;
    my $prk = hmac_sha256($raw, "\0" x 32);
    return unpack 'H8', hmac_sha256("byok/key-id/v1\x01", $prk);
}


sub jwt {
    my ($sub) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}', $sub,
                             time + 3600);
    my $s = encode_base64url(hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
    return "$h.$p.$s";
}


sub api {
    my ($user, $method, $path, $body) = @_;

    return $http->request($method, "http://127.0.0.1:$port$path", {
        headers => { Authorization => 'Bearer ' . jwt($user),
                     'Content-Type' => 'application/json' },
        defined $body ? (content => $json->encode($body)) : (),
    });
}


sub lookup {
    my ($user, $provider) = @_;

    my $res = $http->get("http://127.0.0.1:$port/lookup?provider=$provider",
                         { headers => { 'X-User' => $user } });

    return $res->{status} == 200 ? $res->{headers}{'x-byok-key'}
                                 : "status $res->{status}";
}


sub start_nginx {
    my ($current, @previous) = @_;

    my $user = $> == 0 ? 'user root;' : '';
    my $prev = join '', map { "    byok_master_key_previous file:$dir/$_.key;\n" }
                        @previous;

    write_file("$dir/nginx/conf/nginx.conf", <<"_EOC_");
load_module $module;
master_process off;
daemon on;
error_log $dir/nginx/logs/error.log info;
pid $dir/nginx/logs/nginx.pid;
$user

events {
    worker_connections 64;
}

http {
    access_log off;

    byok_store $store;
    byok_master_key file:$dir/$current.key;
$prev
    server {
        listen 127.0.0.1:$port;

        location /me/provider-keys {
            byok_api;
        }

        location = /lookup {
            byok_provider \$arg_provider;
            byok_user \$http_x_user;
            byok_lookup;
        }
    }
}
_EOC_

    system("$nginx -p $dir/nginx/ -c $dir/nginx/conf/nginx.conf") == 0
        or die "nginx did not start:\n"
               . (read_file("$dir/nginx/logs/error.log") // '');

    for (1 .. 100) {
        last if IO::Socket::INET->new("127.0.0.1:$port");
        sleep 0.02;
    }
}


sub stop_nginx {
    my $pid = read_file("$dir/nginx/logs/nginx.pid") or return;
    chomp $pid;

    kill 'QUIT', $pid;
    for (1 .. 200) {
        last if !kill 0, $pid;
        sleep 0.02;
    }
    unlink "$dir/nginx/logs/nginx.pid";
}


sub free_port {
    my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                     LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    return $sock->sockport;
}


sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
}


sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    local $/;
    return <$fh> // '';
}


END {
    local $?;
    stop_nginx() if $dir && -f "$dir/nginx/logs/nginx.pid";
}

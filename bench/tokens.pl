#!/usr/bin/perl
# Mints HS256 JWTs for benchmark users, the way dev/jwt.sh does, but fast
# enough for tens of thousands of users:
#
#   perl bench/tokens.pl SECRET_FILE PREFIX FIRST COUNT [TTL]
#
# prints "USER TOKEN" lines, USER = PREFIX followed by an 8-digit number.
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64);

my ($file, $prefix, $first, $count, $ttl) = @ARGV;
die "usage: tokens.pl SECRET_FILE PREFIX FIRST COUNT [TTL]\n"
    unless defined $count;
$ttl ||= 3600;

open my $fh, '<', $file or die "$file: $!\n";
my $secret = <$fh>;
close $fh;
chomp $secret;

sub b64url {
    my $s = encode_base64(shift, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

my $exp = time + $ttl;
my $h = b64url('{"alg":"HS256","typ":"JWT"}');

for my $i ($first .. $first + $count - 1) {
    my $user = sprintf('%s%08d', $prefix, $i);
    my $p = b64url(sprintf('{"sub":"%s","exp":%d}', $user, $exp));
    my $s = b64url(hmac_sha256("$h.$p", $secret));
    print "$user $h.$p.$s\n";
}

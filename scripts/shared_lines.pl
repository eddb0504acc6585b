#!/usr/bin/perl
# scripts/shared_lines.pl — cache lines that one thread writes and another
# touches, from a Valgrind trace: false and true sharing found without
# hardware counters (this project's 2-vCPU VM has none, so no `perf c2c`).
#
#   valgrind --tool=lackey --trace-mem=yes --trace-sched=yes --fair-sched=yes \
#            --log-file=trace.txt build/release/bin/gc_probe --threads 2 --ops 10000 --seconds 1000
#   scripts/shared_lines.pl [--skip FRACTION] trace.txt | sort -k2 -nr | head -30
#
# Lackey prints every load (L), store (S) and modify (M) with its address;
# --trace-sched prints "SCHED[n]: acquired lock" when thread n starts to run,
# which attributes what follows to thread n; --fair-sched makes the threads
# take turns (without it one thread may run for most of the trace). The
# traced program's output is unchanged, but its timing is not: use --ops,
# not time, to bound it. --skip 0.4 leaves out the first 40% of the trace
# (start-up: tg_init, pools handed out); the threads finish their --ops at
# different times, so a large skip may leave one of them alone in what is
# counted.
#
# One line per 64-byte line that a store or modify of some thread reached
# and that two or more threads other than thread 1 (the main thread, which
# usually only sets up) touched:
#
#   ADDRESS  MIN  t1:S<stores>/L<loads> t2:... t3:...
#
# MIN is the smallest access count among those threads: a line with a large
# MIN and stores from more than one thread (or stores from one and loads
# from another) moves between the cores that often, at the least. Map an
# address to its symbol with `nm -S -n` (a PIE binary under Valgrind is
# loaded at 0x108000) or to a structure by printing pointers from the
# traced program. docs/PERFORMANCE.md ("Late night of 2026-11-21: threads
# against processes, traced") has what it found.
use strict;
use warnings;
no warnings 'portable';   # 64-bit addresses in hex()

my $skip = 0;
if (@ARGV >= 2 && $ARGV[0] eq '--skip') { shift; $skip = shift; }
die "usage: $0 [--skip FRACTION] TRACE\n" unless @ARGV == 1;
my $file = $ARGV[0];

my $first = 0;
if ($skip > 0) {
    open my $c, '<', $file or die "$file: $!\n";
    my $n = 0;
    $n++ while <$c>;
    close $c;
    $first = int($n * $skip);
}

open my $in, '<', $file or die "$file: $!\n";
my $t = 0;
my (%st, %ld);
while (<$in>) {
    if (/SCHED\[(\d+)\]:\s+acquired lock/) { $t = $1; next; }
    next if $. <= $first;
    next unless /^ ([LSM]) ([0-9a-f]+),/;
    my $line = hex($2) >> 6;
    if ($1 eq 'L') { $ld{$line}{$t}++ } else { $st{$line}{$t}++ }
}
close $in;

for my $line (keys %st) {
    my %acc;
    $acc{$_} += $st{$line}{$_} for keys %{ $st{$line} };
    $acc{$_} += $ld{$line}{$_} for keys %{ $ld{$line} || {} };
    my @workers = grep { $_ >= 2 } keys %acc;
    next unless @workers >= 2;
    my $min;
    for (@workers) { $min = $acc{$_} if !defined $min || $acc{$_} < $min; }
    my $who = join ' ', map { sprintf 't%d:S%d/L%d', $_, $st{$line}{$_} || 0, $ld{$line}{$_} || 0 } sort { $a <=> $b } keys %acc;
    printf "%x %d %s\n", $line << 6, $min, $who;
}
